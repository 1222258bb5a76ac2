"""The YAML segment library: loading and validating rules, and compiling them to SQL."""
