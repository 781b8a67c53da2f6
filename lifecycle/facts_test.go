package lifecycle

import (
	"context"
	"errors"
	"slices"
	"testing"

	"invent.kde.org/kapsule/kapsule/lifecycle/incus"
)

// factsIncus answers the two calls serverFacts makes; any other call
// panics on the nil embedded interface.
type factsIncus struct {
	Incus
	project    *incus.Project
	projectErr error
	profile    *incus.Profile
}

func (f factsIncus) GetProject(context.Context, string) (*incus.Project, error) {
	return f.project, f.projectErr
}

func (f factsIncus) Profile(context.Context, string) (*incus.Profile, error) {
	if f.profile == nil {
		return nil, &incus.Error{StatusCode: 404}
	}
	return f.profile, nil
}

func TestServerFacts(t *testing.T) {
	t.Parallel()
	userProfile := &incus.Profile{
		Config:  map[string]string{"raw.idmap": "uid 1000 1000\ngid 1000 1000"},
		Devices: map[string]map[string]string{"eth0": {"type": "nic", "network": "incusbr-1000"}, "root": {"type": "disk", "path": "/"}},
	}
	restrictedProject := &incus.Project{Name: "user-1000", Config: map[string]string{"restricted": "true"}}
	tests := map[string]struct {
		viaUserSocket bool
		incus         factsIncus
		want          Server
		wantErr       error
	}{
		"incus-user project": {
			viaUserSocket: true,
			incus:         factsIncus{project: restrictedProject, profile: userProfile},
			want:          Server{Restricted: true, ProjectMapsUser: true, ProfileNICs: []string{"eth0"}},
		},
		"project API forbidden to a restricted certificate": {
			viaUserSocket: true,
			incus:         factsIncus{projectErr: &incus.Error{StatusCode: 403, Message: "Forbidden"}, profile: userProfile},
			want:          Server{Restricted: true, ProjectMapsUser: true, ProfileNICs: []string{"eth0"}},
		},
		"restricted project seen through the admin socket": {
			incus: factsIncus{project: restrictedProject, profile: userProfile},
			want:  Server{Restricted: true, ProjectMapsUser: true, ProfileNICs: []string{"eth0"}},
		},
		"profile that does not map the user": {
			viaUserSocket: true,
			incus:         factsIncus{project: restrictedProject, profile: &incus.Profile{Config: map[string]string{}}},
			want:          Server{Restricted: true},
		},
		"admin default project": {
			incus: factsIncus{project: &incus.Project{Name: "default", Config: map[string]string{}}, profile: &incus.Profile{Devices: map[string]map[string]string{"eth0": {"type": "nic", "nictype": "p2p"}}}},
			want:  Server{ProfileNICs: []string{"eth0"}},
		},
		"project lookup fails": {
			incus:   factsIncus{projectErr: &incus.Error{StatusCode: 500, Message: "database is locked"}},
			wantErr: errors.New("inspect the Incus project: database is locked"),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m := NewManager(Config{Incus: tc.incus, Project: "user-1000", Restricted: tc.viaUserSocket, Host: alice})
			got, err := m.serverFacts(context.Background())
			if tc.wantErr != nil {
				if err == nil || err.Error() != tc.wantErr.Error() {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.IdmapAllowed = false // read from this machine's /etc/subuid
			if got.Restricted != tc.want.Restricted || got.ProjectMapsUser != tc.want.ProjectMapsUser ||
				!slices.Equal(got.ProfileNICs, tc.want.ProfileNICs) {
				t.Errorf("facts %+v, want %+v", *got, tc.want)
			}
			if d := DefaultOptionsFor("img", *got); tc.want.Restricted && (d.Wayland || d.HostNetwork || d.SessionBus) {
				t.Errorf("defaults on a restricted project keep forbidden options: %+v", d)
			}
		})
	}
}

func TestIdmapMapsUser(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		raw  string
		want bool
	}{
		"incus-user's map":         {"uid 1000 1000\ngid 1000 1000", true},
		"both":                     {"both 1000 1000", true},
		"range covering the user":  {"both 990-1010 990-1010", true},
		"trailing newline, spaces": {"  uid 1000 1000 \n\ngid 1000 1000\n", true},
		"uid only":                 {"uid 1000 1000", false},
		"other user":               {"both 1001 1001", false},
		"shifted":                  {"uid 1000 0\ngid 1000 0", false},
		"empty":                    {"", false},
		"garbage":                  {"uid x y\ngid 1000", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := IdmapMapsUser(tc.raw, 1000, 1000); got != tc.want {
				t.Errorf("IdmapMapsUser(%q) = %v, want %v", tc.raw, got, tc.want)
			}
		})
	}
}
