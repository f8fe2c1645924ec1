"""The shared fixtures (tests/fixtures.py) for both test trees: the product's (tests/) and the
development tooling's (devtools/tests/), so a session starts one moto server and one control
plane for both."""

pytest_plugins = ["tests.fixtures"]
