package testbed

// The test image's fixture (testbed/image.sh): kapsule-fixture 1.0
// installed and 1.1 pending in a local repository, kapsule-fixture-extra
// 1.0 available there.
const (
	Fixture       = "kapsule-fixture"
	FixtureExtra  = "kapsule-fixture-extra"
	FixtureUpdate = "kapsule-fixture;1.1;all;local" // the pending update's package ID
	FixtureRepo   = "/srv/kapsule-fixture"
)
