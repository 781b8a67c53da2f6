package lifecycle

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/user"
	"regexp"
	"strconv"
	"strings"

	"invent.kde.org/kapsule/kapsule/lifecycle/incus"
)

// Account is the user's account inside a container.
type Account struct {
	Name  string `json:"name"`
	Shell string `json:"shell"`
}

// accountScript creates or adopts the account with the host's name, uid,
// gid and home, and passwordless sudo. Values arrive as arguments, never
// spliced into the script. It prints the login shell it chose.
const accountScript = `set -eu
name=$1 uid=$2 gid=$3 home=$4 hostshell=$5 makehome=$6
command -v useradd >/dev/null || { echo "this container has no useradd (shadow utilities)" >&2; exit 3; }
shell=$hostshell
[ -x "$shell" ] || shell=/bin/bash
[ -x "$shell" ] || shell=/bin/sh
if ! getent group "$gid" >/dev/null; then
	if getent group "$name" >/dev/null; then groupmod -g "$gid" "$name"; else groupadd -g "$gid" "$name"; fi
fi
existing=$(getent passwd "$uid" | cut -d: -f1 || true)
if [ -n "$existing" ]; then
	if [ "$existing" != "$name" ]; then
		usermod -l "$name" -d "$home" -s "$shell" -g "$gid" "$existing"
	else
		usermod -d "$home" -s "$shell" -g "$gid" "$name"
	fi
elif getent passwd "$name" >/dev/null; then
	usermod -u "$uid" -g "$gid" -d "$home" -s "$shell" "$name"
elif [ "$makehome" = yes ]; then
	useradd -m -u "$uid" -g "$gid" -d "$home" -s "$shell" "$name"
else
	useradd -M -u "$uid" -g "$gid" -d "$home" -s "$shell" "$name"
fi
mkdir -p /etc/sudoers.d
printf '%s ALL=(ALL) NOPASSWD:ALL\n' "$name" >"/etc/sudoers.d/kapsule-$name"
chmod 0440 "/etc/sudoers.d/kapsule-$name"
printf '%s\n' "$shell"
`

var userNamePattern = regexp.MustCompile(`^[a-z_][a-z0-9_.-]{0,31}\$?$`)

// accounts reads the record of accounts made in a container.
func accounts(config map[string]string) map[string]Account {
	out := map[string]Account{}
	_ = json.Unmarshal([]byte(config[KeyAccounts]), &out)
	return out
}

// ensureAccount makes sure the host user has its account in the
// container, creating it on first use, and returns it.
func (m *Manager) ensureAccount(ctx context.Context, inst *incus.Instance, opts Options) (Account, error) {
	h := m.cfg.Host
	uid := strconv.FormatUint(uint64(h.UID), 10)
	if a, ok := accounts(inst.Config)[uid]; ok && a.Shell != "" {
		return a, nil
	}
	if !userNamePattern.MatchString(h.User) {
		return Account{}, fmt.Errorf("%w: host user name %q cannot be used inside a container", ErrUnsupported, h.User)
	}
	makeHome := "no"
	if !opts.MountHome {
		makeHome = "yes"
	}
	var stdout, stderr bytes.Buffer
	code, err := m.execRetry(ctx, inst.Name, incus.Cmd{
		Command: []string{"/bin/sh", "-c", accountScript, "kapsule-account", h.User, uid,
			strconv.FormatUint(uint64(h.GID), 10), h.Home, hostShell(h.User), makeHome},
		Stdout: &stdout, Stderr: &stderr,
	})
	if err != nil {
		return Account{}, m.incusError(fmt.Sprintf("create your account in %q", inst.Name), err)
	}
	if code != 0 {
		return Account{}, fmt.Errorf("create your account in %q: %s (exit status %d)", inst.Name, strings.TrimSpace(stderr.String()), code)
	}
	a := Account{Name: h.User, Shell: strings.TrimSpace(stdout.String())}
	all := accounts(inst.Config)
	all[uid] = a
	rec, _ := json.Marshal(all)
	if err := m.cfg.Incus.PatchInstance(ctx, inst.Name, incus.InstancePatch{Config: map[string]string{KeyAccounts: string(rec)}}); err != nil {
		return Account{}, m.incusError(fmt.Sprintf("record your account in %q", inst.Name), err)
	}
	m.changed(inst.Name)
	m.log.Info("account created", "container", inst.Name, "user", h.User, "shell", a.Shell)
	return a, nil
}

// hostShell is the user's login shell on the host.
func hostShell(name string) string {
	u, err := user.Lookup(name)
	if err != nil {
		return "/bin/bash"
	}
	if sh := lookupShell(u.Uid); sh != "" {
		return sh
	}
	return "/bin/bash"
}
