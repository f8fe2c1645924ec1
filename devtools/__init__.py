"""Development tooling. Its distribution's packages live in src/ (kube_emulator, local_stack,
control_plane); this file only names devtools' own tests `devtools.tests.*` when pytest imports
them, apart from the product's `tests` package."""
