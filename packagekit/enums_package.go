package packagekit

// This file holds the enums that describe packages: the info of a Package
// signal (with its update severity), filters, groups, restarts and update
// states. Numbers and strings are PackageKit's (lib/pk-enum.h, pk-enum.c).

// Info is the state or kind of a package in a Package signal (PkInfoEnum):
// installed, available, the kind of an update (security, bugfix, ...) or
// what a transaction is doing with it (downloading, installing, ...). Values
// from InfoInstall on exist only in PackageKit 1.3.
type Info uint32

// Filter restricts the packages a query returns (PkFilterEnum). Queries take
// a Bitfield of filters; NoFilter is the "none" filter.
type Filter uint32

// Group is a package category (PkGroupEnum). GroupDesktopDDE exists only
// in PackageKit 1.3.
type Group uint32

// Restart is what has to be restarted after a change (PkRestartEnum), as
// sent in RequireRestart and UpdateDetail signals.
type Restart uint32

// UpdateState is the stability of an update (PkUpdateStateEnum).
type UpdateState uint32

// Info values.
const (
	InfoUnknown             Info = iota // unknown
	InfoInstalled                       // installed
	InfoAvailable                       // available
	InfoLow                             // low
	InfoEnhancement                     // enhancement
	InfoNormal                          // normal
	InfoBugfix                          // bugfix
	InfoImportant                       // important
	InfoSecurity                        // security
	InfoBlocked                         // blocked
	InfoDownloading                     // downloading
	InfoUpdating                        // updating
	InfoInstalling                      // installing
	InfoRemoving                        // removing
	InfoCleanup                         // cleanup
	InfoObsoleting                      // obsoleting
	InfoCollectionInstalled             // collection-installed
	InfoCollectionAvailable             // collection-available
	InfoFinished                        // finished
	InfoReinstalling                    // reinstalling
	InfoDowngrading                     // downgrading
	InfoPreparing                       // preparing
	InfoDecompressing                   // decompressing
	InfoUntrusted                       // untrusted
	InfoTrusted                         // trusted
	InfoUnavailable                     // unavailable
	InfoCritical                        // critical
	InfoInstall                         // install
	InfoRemove                          // remove
	InfoObsolete                        // obsolete
	InfoDowngrade                       // downgrade
)

var infoNames = newEnumNames("Info",
	"unknown", "installed", "available", "low", "enhancement", "normal", "bugfix",
	"important", "security", "blocked", "downloading", "updating", "installing", "removing",
	"cleanup", "obsoleting", "collection-installed", "collection-available", "finished",
	"reinstalling", "downgrading", "preparing", "decompressing", "untrusted", "trusted",
	"unavailable", "critical", "install", "remove", "obsolete", "downgrade",
)

// Filter values.
const (
	FilterUnknown        Filter = iota // unknown
	FilterNone                         // none
	FilterInstalled                    // installed
	FilterNotInstalled                 // ~installed
	FilterDevel                        // devel
	FilterNotDevel                     // ~devel
	FilterGUI                          // gui
	FilterNotGUI                       // ~gui
	FilterFree                         // free
	FilterNotFree                      // ~free
	FilterVisible                      // visible
	FilterNotVisible                   // ~visible
	FilterSupported                    // supported
	FilterNotSupported                 // ~supported
	FilterBasename                     // basename
	FilterNotBasename                  // ~basename
	FilterNewest                       // newest
	FilterNotNewest                    // ~newest
	FilterArch                         // arch
	FilterNotArch                      // ~arch
	FilterSource                       // source
	FilterNotSource                    // ~source
	FilterCollections                  // collections
	FilterNotCollections               // ~collections
	FilterApplication                  // application
	FilterNotApplication               // ~application
	FilterDownloaded                   // downloaded
	FilterNotDownloaded                // ~downloaded
)

var filterNames = newEnumNames("Filter",
	"unknown", "none", "installed", "~installed", "devel", "~devel", "gui", "~gui", "free",
	"~free", "visible", "~visible", "supported", "~supported", "basename", "~basename",
	"newest", "~newest", "arch", "~arch", "source", "~source", "collections", "~collections",
	"application", "~application", "downloaded", "~downloaded",
)

// Group values.
const (
	GroupUnknown         Group = iota // unknown
	GroupAccessibility                // accessibility
	GroupAccessories                  // accessories
	GroupAdminTools                   // admin-tools
	GroupCommunication                // communication
	GroupDesktopGNOME                 // desktop-gnome
	GroupDesktopKDE                   // desktop-kde
	GroupDesktopOther                 // desktop-other
	GroupDesktopXFCE                  // desktop-xfce
	GroupEducation                    // education
	GroupFonts                        // fonts
	GroupGames                        // games
	GroupGraphics                     // graphics
	GroupInternet                     // internet
	GroupLegacy                       // legacy
	GroupLocalization                 // localization
	GroupMaps                         // maps
	GroupMultimedia                   // multimedia
	GroupNetwork                      // network
	GroupOffice                       // office
	GroupOther                        // other
	GroupPowerManagement              // power-management
	GroupProgramming                  // programming
	GroupPublishing                   // publishing
	GroupRepos                        // repos
	GroupSecurity                     // security
	GroupServers                      // servers
	GroupSystem                       // system
	GroupVirtualization               // virtualization
	GroupScience                      // science
	GroupDocumentation                // documentation
	GroupElectronics                  // electronics
	GroupCollections                  // collections
	GroupVendor                       // vendor
	GroupNewest                       // newest
	GroupDesktopDDE                   // desktop-dde
)

var groupNames = newEnumNames("Group",
	"unknown", "accessibility", "accessories", "admin-tools", "communication",
	"desktop-gnome", "desktop-kde", "desktop-other", "desktop-xfce", "education", "fonts",
	"games", "graphics", "internet", "legacy", "localization", "maps", "multimedia",
	"network", "office", "other", "power-management", "programming", "publishing", "repos",
	"security", "servers", "system", "virtualization", "science", "documentation",
	"electronics", "collections", "vendor", "newest", "desktop-dde",
)

// Restart values.
const (
	RestartUnknown         Restart = iota // unknown
	RestartNone                           // none
	RestartApplication                    // application
	RestartSession                        // session
	RestartSystem                         // system
	RestartSecuritySession                // security-session
	RestartSecuritySystem                 // security-system
)

var restartNames = newEnumNames("Restart",
	"unknown", "none", "application", "session", "system", "security-session",
	"security-system",
)

// UpdateState values.
const (
	UpdateStateUnknown  UpdateState = iota // unknown
	UpdateStateStable                      // stable
	UpdateStateUnstable                    // unstable
	UpdateStateTesting                     // testing
)

var updateStateNames = newEnumNames("UpdateState",
	"unknown", "stable", "unstable", "testing",
)

// String returns PackageKit's string form, or "Info(N)" for a
// value this package does not know.
func (i Info) String() string { return infoNames.format(uint32(i)) }

// Known reports whether i is a value this package knows.
func (i Info) Known() bool { return infoNames.known(uint32(i)) }

func (Info) enumNames() *enumNames { return infoNames }

// MarshalText encodes i as its string form.
func (i Info) MarshalText() ([]byte, error) { return []byte(i.String()), nil }

// UnmarshalText parses the string form.
func (i *Info) UnmarshalText(text []byte) error { return unmarshalEnum(i, text) }

// ParseInfo parses a Info from PackageKit's string form.
func ParseInfo(s string) (Info, error) { return parseEnum[Info](s) }

// String returns PackageKit's string form, or "Filter(N)" for a
// value this package does not know.
func (f Filter) String() string { return filterNames.format(uint32(f)) }

// Known reports whether f is a value this package knows.
func (f Filter) Known() bool { return filterNames.known(uint32(f)) }

func (Filter) enumNames() *enumNames { return filterNames }

// MarshalText encodes f as its string form.
func (f Filter) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText parses the string form.
func (f *Filter) UnmarshalText(text []byte) error { return unmarshalEnum(f, text) }

// ParseFilter parses a Filter from PackageKit's string form.
func ParseFilter(s string) (Filter, error) { return parseEnum[Filter](s) }

// String returns PackageKit's string form, or "Group(N)" for a
// value this package does not know.
func (g Group) String() string { return groupNames.format(uint32(g)) }

// Known reports whether g is a value this package knows.
func (g Group) Known() bool { return groupNames.known(uint32(g)) }

func (Group) enumNames() *enumNames { return groupNames }

// MarshalText encodes g as its string form.
func (g Group) MarshalText() ([]byte, error) { return []byte(g.String()), nil }

// UnmarshalText parses the string form.
func (g *Group) UnmarshalText(text []byte) error { return unmarshalEnum(g, text) }

// ParseGroup parses a Group from PackageKit's string form.
func ParseGroup(s string) (Group, error) { return parseEnum[Group](s) }

// String returns PackageKit's string form, or "Restart(N)" for a
// value this package does not know.
func (r Restart) String() string { return restartNames.format(uint32(r)) }

// Known reports whether r is a value this package knows.
func (r Restart) Known() bool { return restartNames.known(uint32(r)) }

func (Restart) enumNames() *enumNames { return restartNames }

// MarshalText encodes r as its string form.
func (r Restart) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText parses the string form.
func (r *Restart) UnmarshalText(text []byte) error { return unmarshalEnum(r, text) }

// ParseRestart parses a Restart from PackageKit's string form.
func ParseRestart(s string) (Restart, error) { return parseEnum[Restart](s) }

// String returns PackageKit's string form, or "UpdateState(N)" for a
// value this package does not know.
func (u UpdateState) String() string { return updateStateNames.format(uint32(u)) }

// Known reports whether u is a value this package knows.
func (u UpdateState) Known() bool { return updateStateNames.known(uint32(u)) }

func (UpdateState) enumNames() *enumNames { return updateStateNames }

// MarshalText encodes u as its string form.
func (u UpdateState) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

// UnmarshalText parses the string form.
func (u *UpdateState) UnmarshalText(text []byte) error { return unmarshalEnum(u, text) }

// ParseUpdateState parses a UpdateState from PackageKit's string form.
func ParseUpdateState(s string) (UpdateState, error) { return parseEnum[UpdateState](s) }

// DecodeInfo splits the info argument of a Package or Packages signal. Since
// PackageKit 1.2 the lower 16 bits carry the info and the upper 16 bits the
// update severity, itself an Info (InfoLow, InfoNormal, InfoImportant,
// InfoSecurity, InfoCritical, ...; InfoUnknown when the backend sets none).
func DecodeInfo(raw uint32) (info, severity Info) {
	return Info(raw & 0xffff), Info(raw >> 16)
}

// EncodeInfo is the inverse of DecodeInfo: the wire value of a package's info
// with its update severity.
func EncodeInfo(info, severity Info) uint32 {
	return uint32(info)&0xffff | uint32(severity)<<16
}
