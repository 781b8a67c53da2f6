package packagekit

// ErrorCode is the PackageKit error of a failed transaction, the first
// argument of the ErrorCode signal (PkErrorEnum). A failed Run carries it
// in TransactionError.Code.
type ErrorCode uint32

// ErrorCode values.
const (
	ErrorCodeUnknown                         ErrorCode = iota // unknown
	ErrorCodeOutOfMemory                                      // out-of-memory
	ErrorCodeNoNetwork                                        // no-network
	ErrorCodeNotSupported                                     // not-supported
	ErrorCodeInternalError                                    // internal-error
	ErrorCodeGPGFailure                                       // gpg-failure
	ErrorCodePackageIDInvalid                                 // package-id-invalid
	ErrorCodePackageNotInstalled                              // package-not-installed
	ErrorCodePackageNotFound                                  // package-not-found
	ErrorCodePackageAlreadyInstalled                          // package-already-installed
	ErrorCodePackageDownloadFailed                            // package-download-failed
	ErrorCodeGroupNotFound                                    // group-not-found
	ErrorCodeGroupListInvalid                                 // group-list-invalid
	ErrorCodeDepResolutionFailed                              // dep-resolution-failed
	ErrorCodeFilterInvalid                                    // filter-invalid
	ErrorCodeCreateThreadFailed                               // create-thread-failed
	ErrorCodeTransactionError                                 // transaction-error
	ErrorCodeTransactionCancelled                             // transaction-cancelled
	ErrorCodeNoCache                                          // no-cache
	ErrorCodeRepoNotFound                                     // repo-not-found
	ErrorCodeCannotRemoveSystemPackage                        // cannot-remove-system-package
	ErrorCodeProcessKill                                      // process-kill
	ErrorCodeFailedInitialization                             // failed-initialization
	ErrorCodeFailedFinalise                                   // failed-finalise
	ErrorCodeFailedConfigParsing                              // failed-config-parsing
	ErrorCodeCannotCancel                                     // cannot-cancel
	ErrorCodeCannotGetLock                                    // cannot-get-lock
	ErrorCodeNoPackagesToUpdate                               // no-packages-to-update
	ErrorCodeCannotWriteRepoConfig                            // cannot-write-repo-config
	ErrorCodeLocalInstallFailed                               // local-install-failed
	ErrorCodeBadGPGSignature                                  // bad-gpg-signature
	ErrorCodeMissingGPGSignature                              // missing-gpg-signature
	ErrorCodeCannotInstallSourcePackage                       // cannot-install-source-package
	ErrorCodeRepoConfigurationError                           // repo-configuration-error
	ErrorCodeNoLicenseAgreement                               // no-license-agreement
	ErrorCodeFileConflicts                                    // file-conflicts
	ErrorCodePackageConflicts                                 // package-conflicts
	ErrorCodeRepoNotAvailable                                 // repo-not-available
	ErrorCodeInvalidPackageFile                               // invalid-package-file
	ErrorCodePackageInstallBlocked                            // package-install-blocked
	ErrorCodePackageCorrupt                                   // package-corrupt
	ErrorCodeAllPackagesAlreadyInstalled                      // all-packages-already-installed
	ErrorCodeFileNotFound                                     // file-not-found
	ErrorCodeNoMoreMirrorsToTry                               // no-more-mirrors-to-try
	ErrorCodeNoDistroUpgradeData                              // no-distro-upgrade-data
	ErrorCodeIncompatibleArchitecture                         // incompatible-architecture
	ErrorCodeNoSpaceOnDevice                                  // no-space-on-device
	ErrorCodeMediaChangeRequired                              // media-change-required
	ErrorCodeNotAuthorized                                    // not-authorized
	ErrorCodeUpdateNotFound                                   // update-not-found
	ErrorCodeCannotInstallRepoUnsigned                        // cannot-install-repo-unsigned
	ErrorCodeCannotUpdateRepoUnsigned                         // cannot-update-repo-unsigned
	ErrorCodeCannotGetFilelist                                // cannot-get-filelist
	ErrorCodeCannotGetRequires                                // cannot-get-requires
	ErrorCodeCannotDisableRepository                          // cannot-disable-repository
	ErrorCodeRestrictedDownload                               // restricted-download
	ErrorCodePackageFailedToConfigure                         // package-failed-to-configure
	ErrorCodePackageFailedToBuild                             // package-failed-to-build
	ErrorCodePackageFailedToInstall                           // package-failed-to-install
	ErrorCodePackageFailedToRemove                            // package-failed-to-remove
	ErrorCodeUpdateFailedDueToRunningProcess                  // failed-due-to-running-process
	ErrorCodePackageDatabaseChanged                           // package-database-changed
	ErrorCodeProvideTypeNotSupported                          // provide-type-not-supported
	ErrorCodeInstallRootInvalid                               // install-root-invalid
	ErrorCodeCannotFetchSources                               // cannot-fetch-sources
	ErrorCodeCancelledPriority                                // cancelled-priority
	ErrorCodeUnfinishedTransaction                            // unfinished-transaction
	ErrorCodeLockRequired                                     // lock-required
	ErrorCodeRepoAlreadySet                                   // repo-already-set
)

var errorCodeNames = newEnumNames("ErrorCode",
	"unknown", "out-of-memory", "no-network", "not-supported", "internal-error",
	"gpg-failure", "package-id-invalid", "package-not-installed", "package-not-found",
	"package-already-installed", "package-download-failed", "group-not-found",
	"group-list-invalid", "dep-resolution-failed", "filter-invalid", "create-thread-failed",
	"transaction-error", "transaction-cancelled", "no-cache", "repo-not-found",
	"cannot-remove-system-package", "process-kill", "failed-initialization",
	"failed-finalise", "failed-config-parsing", "cannot-cancel", "cannot-get-lock",
	"no-packages-to-update", "cannot-write-repo-config", "local-install-failed",
	"bad-gpg-signature", "missing-gpg-signature", "cannot-install-source-package",
	"repo-configuration-error", "no-license-agreement", "file-conflicts", "package-conflicts",
	"repo-not-available", "invalid-package-file", "package-install-blocked",
	"package-corrupt", "all-packages-already-installed", "file-not-found",
	"no-more-mirrors-to-try", "no-distro-upgrade-data", "incompatible-architecture",
	"no-space-on-device", "media-change-required", "not-authorized", "update-not-found",
	"cannot-install-repo-unsigned", "cannot-update-repo-unsigned", "cannot-get-filelist",
	"cannot-get-requires", "cannot-disable-repository", "restricted-download",
	"package-failed-to-configure", "package-failed-to-build", "package-failed-to-install",
	"package-failed-to-remove", "failed-due-to-running-process", "package-database-changed",
	"provide-type-not-supported", "install-root-invalid", "cannot-fetch-sources",
	"cancelled-priority", "unfinished-transaction", "lock-required", "repo-already-set",
)

// String returns PackageKit's string form, or "ErrorCode(N)" for a
// value this package does not know.
func (e ErrorCode) String() string { return errorCodeNames.format(uint32(e)) }

// Known reports whether e is a value this package knows.
func (e ErrorCode) Known() bool { return errorCodeNames.known(uint32(e)) }

func (ErrorCode) enumNames() *enumNames { return errorCodeNames }

// MarshalText encodes e as its string form.
func (e ErrorCode) MarshalText() ([]byte, error) { return []byte(e.String()), nil }

// UnmarshalText parses the string form.
func (e *ErrorCode) UnmarshalText(text []byte) error { return unmarshalEnum(e, text) }

// ParseErrorCode parses a ErrorCode from PackageKit's string form.
func ParseErrorCode(s string) (ErrorCode, error) { return parseEnum[ErrorCode](s) }
