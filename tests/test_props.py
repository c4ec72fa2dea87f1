from pathlib import Path

import pytest

from engine import props


def test_precedence_cli_over_rtprop_over_files_over_conf(tmp_path: Path):
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "a.conf").write_text("# comment\nhttp.port=9000\nx.y=conf\nz=conf\n")
    (tmp_path / "extra.conf").write_text("x.y = file\nw=file\n")
    p, rest = props.load(
        ["-Dhttp.port=9100", "-Dsystem.propertyFiles=extra.conf", "other"],
        environ={"RTPROP": "-Dhttp.port=9200 -Dz=rtprop -Dtop-flows.maxFlows=5"},
        home=tmp_path,
    )
    assert rest == ["other"]
    assert p["http.port"] == "9100"  # command line beats RTPROP and files
    assert p["z"] == "rtprop"  # RTPROP beats conf.d
    assert p["x.y"] == "file"  # propertyFiles beat conf.d
    assert p["w"] == "file"
    assert p["top-flows.maxFlows"] == "5"  # unknown properties are kept
    assert p["sflow.port"] == "6343"  # defaults remain
    assert p.get_int("http.port") == 9100
    assert "x.y" in p.names()


def test_bad_conf_line_is_reported(tmp_path: Path):
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "bad.conf").write_text("nonsense\n")
    with pytest.raises(props.PropertyError, match="bad.conf:1"):
        props.load([], environ={}, home=tmp_path)


def test_missing_property_file(tmp_path: Path):
    with pytest.raises(props.PropertyError, match="cannot read"):
        props.load(["-Dsystem.propertyFiles=nope.conf"], environ={}, home=tmp_path)


def test_bool_and_numbers():
    p = props.Properties({"a": "yes", "b": "no", "c": "2.5", "d": "x"})
    assert p.get_bool("a") and not p.get_bool("b") and p.get_bool("missing", True)
    assert p.get_float("c") == 2.5 and p.get_int("c") == 2
    with pytest.raises(props.PropertyError):
        p.get_int("d")
