package packagekit

// This file holds the enums that describe a transaction: its role (the
// action), its status while it runs and its exit code. Numbers and strings
// are PackageKit's (lib/pk-enum.h and pk-enum.c, stable since 1.2).

// Role is the action of a transaction (PkRoleEnum). The daemon's Roles
// property is a Bitfield of roles.
type Role uint32

// Status is what a running transaction is doing (PkStatusEnum), reported
// in the transaction's Status property and in ItemProgress.
type Status uint32

// Exit is how a transaction ended, the first argument of the Finished
// signal (PkExitEnum).
type Exit uint32

// Role values.
const (
	RoleUnknown            Role = iota // unknown
	RoleCancel                         // cancel
	RoleDependsOn                      // depends-on
	RoleGetDetails                     // get-details
	RoleGetFiles                       // get-files
	RoleGetPackages                    // get-packages
	RoleGetRepoList                    // get-repo-list
	RoleRequiredBy                     // required-by
	RoleGetUpdateDetail                // get-update-detail
	RoleGetUpdates                     // get-updates
	RoleInstallFiles                   // install-files
	RoleInstallPackages                // install-packages
	RoleInstallSignature               // install-signature
	RoleRefreshCache                   // refresh-cache
	RoleRemovePackages                 // remove-packages
	RoleRepoEnable                     // repo-enable
	RoleRepoSetData                    // repo-set-data
	RoleResolve                        // resolve
	RoleSearchDetails                  // search-details
	RoleSearchFile                     // search-file
	RoleSearchGroup                    // search-group
	RoleSearchName                     // search-name
	RoleUpdatePackages                 // update-packages
	RoleWhatProvides                   // what-provides
	RoleAcceptEula                     // accept-eula
	RoleDownloadPackages               // download-packages
	RoleGetDistroUpgrades              // get-distro-upgrades
	RoleGetCategories                  // get-categories
	RoleGetOldTransactions             // get-old-transactions
	RoleRepairSystem                   // repair-system
	RoleGetDetailsLocal                // get-details-local
	RoleGetFilesLocal                  // get-files-local
	RoleRepoRemove                     // repo-remove
	RoleUpgradeSystem                  // upgrade-system
)

var roleNames = newEnumNames("Role",
	"unknown", "cancel", "depends-on", "get-details", "get-files", "get-packages",
	"get-repo-list", "required-by", "get-update-detail", "get-updates", "install-files",
	"install-packages", "install-signature", "refresh-cache", "remove-packages",
	"repo-enable", "repo-set-data", "resolve", "search-details", "search-file",
	"search-group", "search-name", "update-packages", "what-provides", "accept-eula",
	"download-packages", "get-distro-upgrades", "get-categories", "get-old-transactions",
	"repair-system", "get-details-local", "get-files-local", "repo-remove", "upgrade-system",
)

// Status values.
const (
	StatusUnknown              Status = iota // unknown
	StatusWait                               // wait
	StatusSetup                              // setup
	StatusRunning                            // running
	StatusQuery                              // query
	StatusInfo                               // info
	StatusRemove                             // remove
	StatusRefreshCache                       // refresh-cache
	StatusDownload                           // download
	StatusInstall                            // install
	StatusUpdate                             // update
	StatusCleanup                            // cleanup
	StatusObsolete                           // obsolete
	StatusDepResolve                         // dep-resolve
	StatusSigCheck                           // sig-check
	StatusTestCommit                         // test-commit
	StatusCommit                             // commit
	StatusRequest                            // request
	StatusFinished                           // finished
	StatusCancel                             // cancel
	StatusDownloadRepository                 // download-repository
	StatusDownloadPackagelist                // download-packagelist
	StatusDownloadFilelist                   // download-filelist
	StatusDownloadChangelog                  // download-changelog
	StatusDownloadGroup                      // download-group
	StatusDownloadUpdateinfo                 // download-updateinfo
	StatusRepackaging                        // repackaging
	StatusLoadingCache                       // loading-cache
	StatusScanApplications                   // scan-applications
	StatusGeneratePackageList                // generate-package-list
	StatusWaitingForLock                     // waiting-for-lock
	StatusWaitingForAuth                     // waiting-for-auth
	StatusScanProcessList                    // scan-process-list
	StatusCheckExecutableFiles               // check-executable-files
	StatusCheckLibraries                     // check-libraries
	StatusCopyFiles                          // copy-files
	StatusRunHook                            // run-hook
)

var statusNames = newEnumNames("Status",
	"unknown", "wait", "setup", "running", "query", "info", "remove", "refresh-cache",
	"download", "install", "update", "cleanup", "obsolete", "dep-resolve", "sig-check",
	"test-commit", "commit", "request", "finished", "cancel", "download-repository",
	"download-packagelist", "download-filelist", "download-changelog", "download-group",
	"download-updateinfo", "repackaging", "loading-cache", "scan-applications",
	"generate-package-list", "waiting-for-lock", "waiting-for-auth", "scan-process-list",
	"check-executable-files", "check-libraries", "copy-files", "run-hook",
)

// Exit values.
const (
	ExitUnknown             Exit = iota // unknown
	ExitSuccess                         // success
	ExitFailed                          // failed
	ExitCancelled                       // cancelled
	ExitKeyRequired                     // key-required
	ExitEulaRequired                    // eula-required
	ExitKilled                          // killed
	ExitMediaChangeRequired             // media-change-required
	ExitNeedUntrusted                   // need-untrusted
	ExitCancelledPriority               // cancelled-priority
	ExitSkipTransaction                 // skip-transaction
	ExitRepairRequired                  // repair-required
)

var exitNames = newEnumNames("Exit",
	"unknown", "success", "failed", "cancelled", "key-required", "eula-required", "killed",
	"media-change-required", "need-untrusted", "cancelled-priority", "skip-transaction",
	"repair-required",
)

// String returns PackageKit's string form, or "Role(N)" for a
// value this package does not know.
func (r Role) String() string { return roleNames.format(uint32(r)) }

// Known reports whether r is a value this package knows.
func (r Role) Known() bool { return roleNames.known(uint32(r)) }

func (Role) enumNames() *enumNames { return roleNames }

// MarshalText encodes r as its string form.
func (r Role) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText parses the string form.
func (r *Role) UnmarshalText(text []byte) error { return unmarshalEnum(r, text) }

// ParseRole parses a Role from PackageKit's string form.
func ParseRole(s string) (Role, error) { return parseEnum[Role](s) }

// String returns PackageKit's string form, or "Status(N)" for a
// value this package does not know.
func (s Status) String() string { return statusNames.format(uint32(s)) }

// Known reports whether s is a value this package knows.
func (s Status) Known() bool { return statusNames.known(uint32(s)) }

func (Status) enumNames() *enumNames { return statusNames }

// MarshalText encodes s as its string form.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses the string form.
func (s *Status) UnmarshalText(text []byte) error { return unmarshalEnum(s, text) }

// ParseStatus parses a Status from PackageKit's string form.
func ParseStatus(s string) (Status, error) { return parseEnum[Status](s) }

// String returns PackageKit's string form, or "Exit(N)" for a
// value this package does not know.
func (e Exit) String() string { return exitNames.format(uint32(e)) }

// Known reports whether e is a value this package knows.
func (e Exit) Known() bool { return exitNames.known(uint32(e)) }

func (Exit) enumNames() *enumNames { return exitNames }

// MarshalText encodes e as its string form.
func (e Exit) MarshalText() ([]byte, error) { return []byte(e.String()), nil }

// UnmarshalText parses the string form.
func (e *Exit) UnmarshalText(text []byte) error { return unmarshalEnum(e, text) }

// ParseExit parses a Exit from PackageKit's string form.
func ParseExit(s string) (Exit, error) { return parseEnum[Exit](s) }
