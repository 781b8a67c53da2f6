package packagekit

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// The enum tables as written in the PackageKit reference (protocols.md
// A.6, itself read from PackageKit's pk-enum.h/pk-enum.c): "number name"
// pairs. The tests check the code against them, value by value.
const (
	specRole = `0 unknown, 1 cancel, 2 depends-on, 3 get-details, 4 get-files, 5 get-packages,
  6 get-repo-list, 7 required-by, 8 get-update-detail, 9 get-updates, 10 install-files,
  11 install-packages, 12 install-signature, 13 refresh-cache, 14 remove-packages,
  15 repo-enable, 16 repo-set-data, 17 resolve, 18 search-details, 19 search-file,
  20 search-group, 21 search-name, 22 update-packages, 23 what-provides, 24 accept-eula,
  25 download-packages, 26 get-distro-upgrades, 27 get-categories, 28 get-old-transactions,
  29 repair-system, 30 get-details-local, 31 get-files-local, 32 repo-remove,
  33 upgrade-system`
	specStatus = `0 unknown, 1 wait, 2 setup, 3 running, 4 query, 5 info, 6 remove,
  7 refresh-cache, 8 download, 9 install, 10 update, 11 cleanup, 12 obsolete,
  13 dep-resolve, 14 sig-check, 15 test-commit, 16 commit, 17 request, 18 finished,
  19 cancel, 20 download-repository, 21 download-packagelist, 22 download-filelist,
  23 download-changelog, 24 download-group, 25 download-updateinfo, 26 repackaging,
  27 loading-cache, 28 scan-applications, 29 generate-package-list, 30 waiting-for-lock,
  31 waiting-for-auth, 32 scan-process-list, 33 check-executable-files, 34 check-libraries,
  35 copy-files, 36 run-hook`
	specExit = `0 unknown, 1 success, 2 failed, 3 cancelled, 4 key-required,
  5 eula-required, 6 killed, 7 media-change-required, 8 need-untrusted,
  9 cancelled-priority, 10 skip-transaction, 11 repair-required`
	specInfo = `0 unknown, 1 installed, 2 available, 3 low, 4 enhancement,
  5 normal, 6 bugfix, 7 important, 8 security, 9 blocked, 10 downloading, 11 updating,
  12 installing, 13 removing, 14 cleanup, 15 obsoleting, 16 collection-installed,
  17 collection-available, 18 finished, 19 reinstalling, 20 downgrading, 21 preparing,
  22 decompressing, 23 untrusted, 24 trusted, 25 unavailable, 26 critical,
  27 install, 28 remove, 29 obsolete, 30 downgrade`
	specError = `0 unknown, 1 out-of-memory, 2 no-network, 3 not-supported,
  4 internal-error, 5 gpg-failure, 6 package-id-invalid, 7 package-not-installed,
  8 package-not-found, 9 package-already-installed, 10 package-download-failed,
  11 group-not-found, 12 group-list-invalid, 13 dep-resolution-failed, 14 filter-invalid,
  15 create-thread-failed, 16 transaction-error, 17 transaction-cancelled, 18 no-cache,
  19 repo-not-found, 20 cannot-remove-system-package, 21 process-kill,
  22 failed-initialization, 23 failed-finalise, 24 failed-config-parsing, 25 cannot-cancel,
  26 cannot-get-lock, 27 no-packages-to-update, 28 cannot-write-repo-config,
  29 local-install-failed, 30 bad-gpg-signature, 31 missing-gpg-signature,
  32 cannot-install-source-package, 33 repo-configuration-error, 34 no-license-agreement,
  35 file-conflicts, 36 package-conflicts, 37 repo-not-available, 38 invalid-package-file,
  39 package-install-blocked, 40 package-corrupt, 41 all-packages-already-installed,
  42 file-not-found, 43 no-more-mirrors-to-try, 44 no-distro-upgrade-data,
  45 incompatible-architecture, 46 no-space-on-device, 47 media-change-required,
  48 not-authorized, 49 update-not-found, 50 cannot-install-repo-unsigned,
  51 cannot-update-repo-unsigned, 52 cannot-get-filelist, 53 cannot-get-requires,
  54 cannot-disable-repository, 55 restricted-download, 56 package-failed-to-configure,
  57 package-failed-to-build, 58 package-failed-to-install, 59 package-failed-to-remove,
  60 failed-due-to-running-process, 61 package-database-changed,
  62 provide-type-not-supported, 63 install-root-invalid, 64 cannot-fetch-sources,
  65 cancelled-priority, 66 unfinished-transaction, 67 lock-required, 68 repo-already-set`
	specFilter = `0 unknown, 1 none, 2 installed,
  3 ~installed, 4 devel, 5 ~devel, 6 gui, 7 ~gui, 8 free, 9 ~free, 10 visible, 11 ~visible,
  12 supported, 13 ~supported, 14 basename, 15 ~basename, 16 newest, 17 ~newest, 18 arch,
  19 ~arch, 20 source, 21 ~source, 22 collections, 23 ~collections, 24 application,
  25 ~application, 26 downloaded, 27 ~downloaded`
	specGroup = `0 unknown, 1 accessibility, 2 accessories, 3 admin-tools, 4 communication,
  5 desktop-gnome, 6 desktop-kde, 7 desktop-other, 8 desktop-xfce, 9 education, 10 fonts,
  11 games, 12 graphics, 13 internet, 14 legacy, 15 localization, 16 maps, 17 multimedia,
  18 network, 19 office, 20 other, 21 power-management, 22 programming, 23 publishing,
  24 repos, 25 security, 26 servers, 27 system, 28 virtualization, 29 science,
  30 documentation, 31 electronics, 32 collections, 33 vendor, 34 newest,
  35 desktop-dde`
	specRestart         = `0 unknown, 1 none, 2 application, 3 session, 4 system, 5 security-session, 6 security-system`
	specTransactionFlag = `0 none, 1 only-trusted, 2 simulate, 3 only-download, 4 allow-reinstall, 5 just-reinstall, 6 allow-downgrade`
	specNetwork         = `0 unknown, 1 offline, 2 online, 3 wired, 4 wifi, 5 mobile`
	specUpdateState     = `0 unknown, 1 stable, 2 unstable, 3 testing`
	specDistroUpgrade   = `0 unknown, 1 stable, 2 unstable`
	specUpgradeKind     = `0 unknown, 1 minimal, 2 default, 3 complete`
	specSigType         = `0 unknown, 1 gpg`
	specMediaType       = `0 unknown, 1 cd, 2 dvd, 3 disc`
	specAuthorize       = `0 unknown, 1 yes, 2 no, 3 interactive`
)

type specEntry struct {
	value uint32
	name  string
}

func parseSpec(t *testing.T, spec string) []specEntry {
	t.Helper()
	var out []specEntry
	for item := range strings.SplitSeq(spec, ",") {
		num, name, ok := strings.Cut(strings.TrimSpace(item), " ")
		v, err := strconv.ParseUint(num, 10, 32)
		if !ok || err != nil {
			t.Fatalf("bad spec item %q", item)
		}
		if int(v) != len(out) {
			t.Fatalf("spec item %q out of order", item)
		}
		out = append(out, specEntry{uint32(v), name})
	}
	return out
}

// checkEnum checks every value of an enum against the spec: its string, its
// parse, its text round trip, and the first unknown value.
func checkEnum[E enum](t *testing.T, spec string, parse func(string) (E, error)) {
	t.Helper()
	entries := parseSpec(t, spec)
	for _, e := range entries {
		v := E(e.value)
		if got := v.String(); got != e.name {
			t.Errorf("%T(%d).String() = %q, want %q", v, e.value, got, e.name)
		}
		got, err := parse(e.name)
		if err != nil || got != v {
			t.Errorf("parse %q = %d, %v; want %d", e.name, got, err, e.value)
		}
	}
	next := E(len(entries))
	var zero E
	kind := fmt.Sprintf("%T", zero)[len("packagekit."):]
	if got, want := next.String(), fmt.Sprintf("%s(%d)", kind, len(entries)); got != want {
		t.Errorf("first unknown value: String() = %q, want %q", got, want)
	}
	if _, err := parse("no-such-" + kind); !errors.Is(err, ErrUnknownValue) {
		t.Errorf("parse of an unknown name: err = %v, want ErrUnknownValue", err)
	}
}

func TestEnumsMatchPackageKit(t *testing.T) {
	t.Parallel()
	tests := map[string]func(t *testing.T){
		"role":             func(t *testing.T) { checkEnum(t, specRole, ParseRole) },
		"status":           func(t *testing.T) { checkEnum(t, specStatus, ParseStatus) },
		"exit":             func(t *testing.T) { checkEnum(t, specExit, ParseExit) },
		"info":             func(t *testing.T) { checkEnum(t, specInfo, ParseInfo) },
		"error code":       func(t *testing.T) { checkEnum(t, specError, ParseErrorCode) },
		"filter":           func(t *testing.T) { checkEnum(t, specFilter, ParseFilter) },
		"group":            func(t *testing.T) { checkEnum(t, specGroup, ParseGroup) },
		"restart":          func(t *testing.T) { checkEnum(t, specRestart, ParseRestart) },
		"transaction flag": func(t *testing.T) { checkEnum(t, specTransactionFlag, ParseTransactionFlag) },
		"network":          func(t *testing.T) { checkEnum(t, specNetwork, ParseNetwork) },
		"update state":     func(t *testing.T) { checkEnum(t, specUpdateState, ParseUpdateState) },
		"distro upgrade":   func(t *testing.T) { checkEnum(t, specDistroUpgrade, ParseDistroUpgrade) },
		"upgrade kind":     func(t *testing.T) { checkEnum(t, specUpgradeKind, ParseUpgradeKind) },
		"signature type":   func(t *testing.T) { checkEnum(t, specSigType, ParseSigType) },
		"media type":       func(t *testing.T) { checkEnum(t, specMediaType, ParseMediaType) },
		"authorize":        func(t *testing.T) { checkEnum(t, specAuthorize, ParseAuthorize) },
	}
	for name, test := range tests {
		t.Run(name, test)
	}
}

// TestEnumConstants pins named constants to their numbers: the first and
// last of each enum (so every iota block has the right length) and the ones
// the client relies on.
func TestEnumConstants(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		got  uint32
		want uint32
	}{
		{"RoleUnknown", uint32(RoleUnknown), 0},
		{"RoleGetUpdates", uint32(RoleGetUpdates), 9},
		{"RoleRefreshCache", uint32(RoleRefreshCache), 13},
		{"RoleSearchName", uint32(RoleSearchName), 21},
		{"RoleUpgradeSystem", uint32(RoleUpgradeSystem), 33},
		{"StatusWait", uint32(StatusWait), 1},
		{"StatusInstall", uint32(StatusInstall), 9},
		{"StatusWaitingForAuth", uint32(StatusWaitingForAuth), 31},
		{"StatusRunHook", uint32(StatusRunHook), 36},
		{"ExitSuccess", uint32(ExitSuccess), 1},
		{"ExitCancelled", uint32(ExitCancelled), 3},
		{"ExitKilled", uint32(ExitKilled), 6},
		{"ExitRepairRequired", uint32(ExitRepairRequired), 11},
		{"InfoInstalled", uint32(InfoInstalled), 1},
		{"InfoSecurity", uint32(InfoSecurity), 8},
		{"InfoCritical", uint32(InfoCritical), 26},
		{"InfoDowngrade", uint32(InfoDowngrade), 30},
		{"ErrorCodePackageNotFound", uint32(ErrorCodePackageNotFound), 8},
		{"ErrorCodeTransactionCancelled", uint32(ErrorCodeTransactionCancelled), 17},
		{"ErrorCodeNotAuthorized", uint32(ErrorCodeNotAuthorized), 48},
		{"ErrorCodeUpdateFailedDueToRunningProcess", uint32(ErrorCodeUpdateFailedDueToRunningProcess), 60},
		{"ErrorCodeRepoAlreadySet", uint32(ErrorCodeRepoAlreadySet), 68},
		{"FilterNone", uint32(FilterNone), 1},
		{"FilterNotDevel", uint32(FilterNotDevel), 5},
		{"FilterNotDownloaded", uint32(FilterNotDownloaded), 27},
		{"GroupSystem", uint32(GroupSystem), 27},
		{"GroupDesktopDDE", uint32(GroupDesktopDDE), 35},
		{"RestartSecuritySystem", uint32(RestartSecuritySystem), 6},
		{"TransactionFlagSimulate", uint32(TransactionFlagSimulate), 2},
		{"TransactionFlagAllowDowngrade", uint32(TransactionFlagAllowDowngrade), 6},
		{"NetworkOnline", uint32(NetworkOnline), 2},
		{"NetworkMobile", uint32(NetworkMobile), 5},
		{"UpdateStateTesting", uint32(UpdateStateTesting), 3},
		{"AuthorizeYes", uint32(AuthorizeYes), 1},
		{"AuthorizeInteractive", uint32(AuthorizeInteractive), 3},
		{"DistroUpgradeUnstable", uint32(DistroUpgradeUnstable), 2},
		{"UpgradeKindComplete", uint32(UpgradeKindComplete), 3},
		{"SigTypeGPG", uint32(SigTypeGPG), 1},
		{"MediaTypeDisc", uint32(MediaTypeDisc), 3},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %d, want %d", tt.name, tt.got, tt.want)
		}
	}
}

func TestEnumTextEncoding(t *testing.T) {
	t.Parallel()
	type doc struct {
		Role   Role      `json:"role"`
		Status Status    `json:"status"`
		Code   ErrorCode `json:"code"`
	}
	in := doc{RoleGetUpdates, StatusDownload, ErrorCodeNoNetwork}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"role":"get-updates","status":"download","code":"no-network"}`; string(b) != want {
		t.Errorf("json = %s, want %s", b, want)
	}
	var out doc
	if err := json.Unmarshal(b, &out); err != nil || out != in {
		t.Errorf("json round trip = %+v, %v; want %+v", out, err, in)
	}
	if err := json.Unmarshal([]byte(`{"role":"get-update"}`), &out); !errors.Is(err, ErrUnknownValue) {
		t.Errorf("unknown role in json: err = %v, want ErrUnknownValue", err)
	}
}

func TestDecodeInfo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		raw          uint32
		info, sev    Info
		wantInfo     string
		wantSeverity string
	}{
		{"plain installed", 1, InfoInstalled, InfoUnknown, "installed", "unknown"},
		{"normal update of normal severity (seen from apt)", 0x50005, InfoNormal, InfoNormal, "normal", "normal"},
		{"security update of critical severity", 26<<16 | 8, InfoSecurity, InfoCritical, "security", "critical"},
		{"bugfix marked important", 7<<16 | 6, InfoBugfix, InfoImportant, "bugfix", "important"},
		{"unknown severity from a newer daemon", 0xffff<<16 | 2, InfoAvailable, Info(0xffff), "available", "Info(65535)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, sev := DecodeInfo(tt.raw)
			if info != tt.info || sev != tt.sev {
				t.Errorf("DecodeInfo(%#x) = %v, %v; want %v, %v", tt.raw, info, sev, tt.info, tt.sev)
			}
			if info.String() != tt.wantInfo || sev.String() != tt.wantSeverity {
				t.Errorf("strings = %q, %q; want %q, %q", info, sev, tt.wantInfo, tt.wantSeverity)
			}
			if got := EncodeInfo(info, sev); got != tt.raw {
				t.Errorf("EncodeInfo(%v, %v) = %#x, want %#x", info, sev, got, tt.raw)
			}
		})
	}
}
