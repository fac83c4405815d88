"""``nightcramp simulate`` and the night as a whole: same seed same night, a written night reads back, the CLI."""

from __future__ import annotations

import numpy as np
import pytest

from firmware.errors import ConfigError
from service.cli import main
from service.recording.format import read_labels, read_recording
from service.sim.night import make_night
from service.sim.scenarios import scenario
from service.sim.simulate import simulate_night, write_simulated_night


def test_same_seed_gives_the_same_night_and_another_seed_does_not():
    a_rec, a_lab = simulate_night(0.25, 1, seed=5, rate_hz=25, sleeper="restless")
    b_rec, b_lab = simulate_night(0.25, 1, seed=5, rate_hz=25, sleeper="restless")
    c_rec, c_lab = simulate_night(0.25, 1, seed=6, rate_hz=25, sleeper="restless")
    np.testing.assert_array_equal(a_rec.t, b_rec.t)
    np.testing.assert_array_equal(a_rec.accel, b_rec.accel)
    np.testing.assert_array_equal(a_rec.temp_c, b_rec.temp_c)
    assert a_lab.episodes == b_lab.episodes and a_lab.extra == b_lab.extra
    assert a_lab.episodes != c_lab.episodes
    n = min(len(a_rec), len(c_rec))
    assert not np.allclose(a_rec.accel[:n], c_rec.accel[:n])


def test_unknown_names_are_config_errors():
    with pytest.raises(ConfigError, match="sleeper"):
        make_night(1.0, 0, 1, sleeper="snorer")
    with pytest.raises(ConfigError, match="sensor"):
        simulate_night(0.1, 0, 1, sensor="bma180")
    with pytest.raises(ConfigError, match="scenario"):
        scenario("sneeze")
    with pytest.raises(ConfigError, match="between 20 and 200"):
        scenario("quiet", rate_hz=400)


def test_written_night_reads_back_identical(tmp_path):
    path = tmp_path / "night.csv.gz"
    labels, lpath = write_simulated_night(path, hours=0.2, cramps=1, seed=12, rate_hz=100, sensor="adxl345")
    assert lpath == tmp_path / "night.labels.json"
    rec = read_recording(path)
    mem, mem_labels = simulate_night(0.2, 1, seed=12, rate_hz=100, sensor="adxl345")
    np.testing.assert_array_equal(rec.t, mem.t)
    np.testing.assert_array_equal(rec.accel, mem.accel)
    np.testing.assert_array_equal(rec.temp_c, mem.temp_c)
    back = read_labels(lpath)
    np.testing.assert_allclose(back.episodes, mem_labels.episodes, atol=1e-4)
    assert back.hours == pytest.approx(0.2)
    assert back.extra["sensor"] == "adxl345" and back.extra["rate_hz"] == 100
    assert all(x["kind"] != "cramp" for x in back.extra["lookalikes"])


def test_cli_simulate_writes_recording_and_labels(tmp_path, capsys):
    out = tmp_path / "n.csv"
    rc = main(["simulate", "-o", str(out), "--hours", "0.3", "--cramps", "1", "--seed", "3",
               "--rate", "25", "--sensor", "lis3dh", "--sleeper", "plm"])
    assert rc == 0
    assert "plm sleeper, 1 cramp)" in capsys.readouterr().out
    assert len(read_recording(out)) > 0.29 * 3600 * 25
    assert len(read_labels(tmp_path / "n.labels.json").episodes) == 1


@pytest.mark.parametrize("extra, message", [
    (["--rate", "10"], "between 20 and 200"),
    (["--rate", "250"], "between 20 and 200"),
    (["--sensor", "bmi160"], "unknown sensor"),
    (["--sleeper", "snorer"], "unknown sleeper"),
    (["--hours", "0.2", "--cramps", "3"], "cannot fit"),
])
def test_cli_simulate_bad_options_exit_2(tmp_path, capsys, extra, message):
    rc = main(["simulate", "-o", str(tmp_path / "n.csv"), "--hours", "0.1", *extra])
    assert rc == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "n.csv").exists()


def test_cli_simulate_missing_directory_exit_2(tmp_path, capsys):
    assert main(["simulate", "-o", str(tmp_path / "no" / "n.csv"), "--hours", "0.1"]) == 2
    assert "does not exist" in capsys.readouterr().err
