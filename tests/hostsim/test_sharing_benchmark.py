"""`manage.py bench sharing --quick`: the calibration runs end to end and reports its targets.

Whether the targets are met is what the full benchmark prints, not what this checks.
"""

import json

from django.core.management import call_command

RUNS = ("software", "hardware", "salting2")


def test_the_quick_sharing_benchmark_prints_every_run_beside_the_published_figures(capsys):
    call_command("bench", "sharing", "--quick")
    result = json.loads(capsys.readouterr().out)
    assert result["quick"] is True
    assert set(result["runs"]) == set(RUNS)
    for run in RUNS:
        fig4 = result["runs"][run]["fig4"]
        assert [point["vms"] for point in fig4["curve"]] == [1, 2]
        for point in fig4["curve"]:
            assert set(point) == {
                "vms",
                "shared_pct",
                "reclaimed_pct",
                "paper_shared_pct",
                "paper_reclaimed_pct",
            }
            assert 0 <= point["reclaimed_pct"] <= point["shared_pct"] <= 100
        assert fig4["one_vm"]["paper_reclaimed_mb"] == 5.0
        assert fig4["one_vm"]["paper_zero_of_reclaimed_pct"] == 55.0
        guide = result["runs"][run]["guide"]
        assert set(guide) == {"identical", "diverse"}
        assert all(0 <= case["saved_of_granted_pct"] <= 100 for case in guide.values())
    # The quick run's curve stops at 2 VMs: only the guide's two targets apply.
    targets = {target["target"]: target for target in result["targets"]}
    assert set(targets) == {"identical VMs save more than 30%", "a diverse mix saves less than 5%"}
    assert all(isinstance(target["met"], bool) for target in targets.values())
    assert result["settings"]["Mem.ShareScanTime"] == 10
    assert "reclaimed" in result["definitions"] and "shared" in result["definitions"]
