"""The tests of the development tooling: the emulator's conformance suite, the real control
plane as the tests start it (and the emulator's parity with it), the local stack's runners, and
the official Kubernetes client's own e2e tests against both clusters."""
