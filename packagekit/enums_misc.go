package packagekit

// This file holds the smaller PackageKit enums: transaction flags, network
// state, authorization results and the enums of distribution upgrades,
// signatures and media. Numbers and strings are PackageKit's.

// TransactionFlag modifies a transaction that changes the system
// (PkTransactionFlagEnum). Methods take a Bitfield of flags; the empty
// bitfield (0) is what clients send for "no flags".
type TransactionFlag uint32

// Network is the daemon's idea of the network (PkNetworkEnum), its
// NetworkState property. RefreshCache fails while it is NetworkOffline.
type Network uint32

// Authorize is the answer of CanAuthorize (PkAuthorizeEnum).
type Authorize uint32

// DistroUpgrade is the kind of a distribution upgrade (PkDistroUpgradeEnum).
type DistroUpgrade uint32

// UpgradeKind is how thoroughly UpgradeSystem upgrades (PkUpgradeKindEnum).
type UpgradeKind uint32

// SigType is the type of a repository signature (PkSigTypeEnum).
type SigType uint32

// MediaType is the kind of medium a MediaChangeRequired signal asks for
// (PkMediaTypeEnum).
type MediaType uint32

// TransactionFlag values.
const (
	TransactionFlagNone           TransactionFlag = iota // none
	TransactionFlagOnlyTrusted                           // only-trusted
	TransactionFlagSimulate                              // simulate
	TransactionFlagOnlyDownload                          // only-download
	TransactionFlagAllowReinstall                        // allow-reinstall
	TransactionFlagJustReinstall                         // just-reinstall
	TransactionFlagAllowDowngrade                        // allow-downgrade
)

var transactionFlagNames = newEnumNames("TransactionFlag",
	"none", "only-trusted", "simulate", "only-download", "allow-reinstall", "just-reinstall",
	"allow-downgrade",
)

// Network values.
const (
	NetworkUnknown Network = iota // unknown
	NetworkOffline                // offline
	NetworkOnline                 // online
	NetworkWired                  // wired
	NetworkWifi                   // wifi
	NetworkMobile                 // mobile
)

var networkNames = newEnumNames("Network",
	"unknown", "offline", "online", "wired", "wifi", "mobile",
)

// Authorize values.
const (
	AuthorizeUnknown     Authorize = iota // unknown
	AuthorizeYes                          // yes
	AuthorizeNo                           // no
	AuthorizeInteractive                  // interactive
)

var authorizeNames = newEnumNames("Authorize",
	"unknown", "yes", "no", "interactive",
)

// DistroUpgrade values.
const (
	DistroUpgradeUnknown  DistroUpgrade = iota // unknown
	DistroUpgradeStable                        // stable
	DistroUpgradeUnstable                      // unstable
)

var distroUpgradeNames = newEnumNames("DistroUpgrade",
	"unknown", "stable", "unstable",
)

// UpgradeKind values.
const (
	UpgradeKindUnknown  UpgradeKind = iota // unknown
	UpgradeKindMinimal                     // minimal
	UpgradeKindDefault                     // default
	UpgradeKindComplete                    // complete
)

var upgradeKindNames = newEnumNames("UpgradeKind",
	"unknown", "minimal", "default", "complete",
)

// SigType values.
const (
	SigTypeUnknown SigType = iota // unknown
	SigTypeGPG                    // gpg
)

var sigTypeNames = newEnumNames("SigType",
	"unknown", "gpg",
)

// MediaType values.
const (
	MediaTypeUnknown MediaType = iota // unknown
	MediaTypeCD                       // cd
	MediaTypeDVD                      // dvd
	MediaTypeDisc                     // disc
)

var mediaTypeNames = newEnumNames("MediaType",
	"unknown", "cd", "dvd", "disc",
)

// String returns PackageKit's string form, or "TransactionFlag(N)" for a
// value this package does not know.
func (t TransactionFlag) String() string { return transactionFlagNames.format(uint32(t)) }

// Known reports whether t is a value this package knows.
func (t TransactionFlag) Known() bool { return transactionFlagNames.known(uint32(t)) }

func (TransactionFlag) enumNames() *enumNames { return transactionFlagNames }

// MarshalText encodes t as its string form.
func (t TransactionFlag) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText parses the string form.
func (t *TransactionFlag) UnmarshalText(text []byte) error { return unmarshalEnum(t, text) }

// ParseTransactionFlag parses a TransactionFlag from PackageKit's string form.
func ParseTransactionFlag(s string) (TransactionFlag, error) { return parseEnum[TransactionFlag](s) }

// String returns PackageKit's string form, or "Network(N)" for a
// value this package does not know.
func (n Network) String() string { return networkNames.format(uint32(n)) }

// Known reports whether n is a value this package knows.
func (n Network) Known() bool { return networkNames.known(uint32(n)) }

func (Network) enumNames() *enumNames { return networkNames }

// MarshalText encodes n as its string form.
func (n Network) MarshalText() ([]byte, error) { return []byte(n.String()), nil }

// UnmarshalText parses the string form.
func (n *Network) UnmarshalText(text []byte) error { return unmarshalEnum(n, text) }

// ParseNetwork parses a Network from PackageKit's string form.
func ParseNetwork(s string) (Network, error) { return parseEnum[Network](s) }

// String returns PackageKit's string form, or "Authorize(N)" for a
// value this package does not know.
func (a Authorize) String() string { return authorizeNames.format(uint32(a)) }

// Known reports whether a is a value this package knows.
func (a Authorize) Known() bool { return authorizeNames.known(uint32(a)) }

func (Authorize) enumNames() *enumNames { return authorizeNames }

// MarshalText encodes a as its string form.
func (a Authorize) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText parses the string form.
func (a *Authorize) UnmarshalText(text []byte) error { return unmarshalEnum(a, text) }

// ParseAuthorize parses a Authorize from PackageKit's string form.
func ParseAuthorize(s string) (Authorize, error) { return parseEnum[Authorize](s) }

// String returns PackageKit's string form, or "DistroUpgrade(N)" for a
// value this package does not know.
func (d DistroUpgrade) String() string { return distroUpgradeNames.format(uint32(d)) }

// Known reports whether d is a value this package knows.
func (d DistroUpgrade) Known() bool { return distroUpgradeNames.known(uint32(d)) }

func (DistroUpgrade) enumNames() *enumNames { return distroUpgradeNames }

// MarshalText encodes d as its string form.
func (d DistroUpgrade) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses the string form.
func (d *DistroUpgrade) UnmarshalText(text []byte) error { return unmarshalEnum(d, text) }

// ParseDistroUpgrade parses a DistroUpgrade from PackageKit's string form.
func ParseDistroUpgrade(s string) (DistroUpgrade, error) { return parseEnum[DistroUpgrade](s) }

// String returns PackageKit's string form, or "UpgradeKind(N)" for a
// value this package does not know.
func (u UpgradeKind) String() string { return upgradeKindNames.format(uint32(u)) }

// Known reports whether u is a value this package knows.
func (u UpgradeKind) Known() bool { return upgradeKindNames.known(uint32(u)) }

func (UpgradeKind) enumNames() *enumNames { return upgradeKindNames }

// MarshalText encodes u as its string form.
func (u UpgradeKind) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

// UnmarshalText parses the string form.
func (u *UpgradeKind) UnmarshalText(text []byte) error { return unmarshalEnum(u, text) }

// ParseUpgradeKind parses a UpgradeKind from PackageKit's string form.
func ParseUpgradeKind(s string) (UpgradeKind, error) { return parseEnum[UpgradeKind](s) }

// String returns PackageKit's string form, or "SigType(N)" for a
// value this package does not know.
func (s SigType) String() string { return sigTypeNames.format(uint32(s)) }

// Known reports whether s is a value this package knows.
func (s SigType) Known() bool { return sigTypeNames.known(uint32(s)) }

func (SigType) enumNames() *enumNames { return sigTypeNames }

// MarshalText encodes s as its string form.
func (s SigType) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses the string form.
func (s *SigType) UnmarshalText(text []byte) error { return unmarshalEnum(s, text) }

// ParseSigType parses a SigType from PackageKit's string form.
func ParseSigType(s string) (SigType, error) { return parseEnum[SigType](s) }

// String returns PackageKit's string form, or "MediaType(N)" for a
// value this package does not know.
func (m MediaType) String() string { return mediaTypeNames.format(uint32(m)) }

// Known reports whether m is a value this package knows.
func (m MediaType) Known() bool { return mediaTypeNames.known(uint32(m)) }

func (MediaType) enumNames() *enumNames { return mediaTypeNames }

// MarshalText encodes m as its string form.
func (m MediaType) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText parses the string form.
func (m *MediaType) UnmarshalText(text []byte) error { return unmarshalEnum(m, text) }

// ParseMediaType parses a MediaType from PackageKit's string form.
func ParseMediaType(s string) (MediaType, error) { return parseEnum[MediaType](s) }
