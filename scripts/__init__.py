"""Developer scripts: benchmarks and tooling run from the repository, not shipped with the package."""
