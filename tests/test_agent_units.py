"""The agent's parts one at a time: configuration and the key, server profiles, validation and grounding
of submissions, hints, tool bounds (with the real sandbox where a tool runs in it), the state's
round trip and the command-line options."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from pipeline.agent import AgentDetector, AgentConfigError, detect_profile, get_profile, resolve_settings
from pipeline.agent.cli import add_run_options, detector_params
from pipeline.agent.hints import make_hints, paginate
from pipeline.agent.profiles import ACT_TOOL
from pipeline.agent.settings import ApiKey, Paging, load_api_key
from pipeline.agent.state import AgentState, Call, merge_ranges
from pipeline.agent.submission import ProposedEncounter, Submission, assemble, check_submission, find_quote, ground_values
from pipeline.agent.tools import ToolBox, compact_schema, tool_specs
from pipeline.detect.base import EncounterBoundary
from pipeline.sandbox import SandboxLevel, open_sandbox
from pipeline.text import LineIndex

SECRET = "sk-unit-canary-0123456789"
TEXT = "\n".join([
    "Date of Service: 03/14/2021",            # 1
    "Provider: Ann Lee, MD   Facility: North Clinic",
    "Chief complaint: cough for two weeks.",
    "Plan: rest.",
    "",
    "VISIT DATE: 04/02/2021",                 # 6
    "Seen by: Bob Stone, DO",
    "Chief complaint: follow-up of cough.",
    "Assessment: improving.",
    "",
    "ADMISSION DATE: 05/10/2021",             # 11
    "Discharge date: 05/12/2021",
    "Attending: Carla Diaz, MD",
])


@pytest.fixture
def lines() -> LineIndex:
    return LineIndex(TEXT)


# -- settings and the key ---------------------------------------------------------------------------


def test_flags_win_over_environment_over_config_file(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('[agent]\nmodel = "from-file"\nbase_url = "http://file/v1"\nmax_steps = 7\napi_key = "sk-file"\n')
    env = {"CHARTSIFT_MODEL": "from-env", "OPENAI_BASE_URL": "http://env/v1"}
    settings = resolve_settings({"config_file": str(config)}, env)
    assert (settings.model, settings.base_url, settings.budgets.max_steps) == ("from-env", "http://env/v1", 7)
    settings = resolve_settings({"config_file": str(config), "model": "from-flag"}, env)
    assert settings.model == "from-flag"
    assert resolve_settings({"config_file": str(config)}, {}).model == "from-file"


def test_missing_model_and_bad_config_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(AgentConfigError, match="needs a model"):
        resolve_settings({}, {})
    bad = tmp_path / "bad.toml"
    bad.write_text("model = [\n")
    with pytest.raises(AgentConfigError, match="not valid TOML"):
        resolve_settings({"config_file": str(bad)}, {})
    bad.write_text('model = "m"\nsecret_sauce = 1\n')
    with pytest.raises(AgentConfigError, match="unknown keys secret_sauce"):
        resolve_settings({"config_file": str(bad)}, {})
    with pytest.raises(AgentConfigError, match="unknown agent parameters: api_key"):
        resolve_settings({"model": "m", "api_key": SECRET}, {})
    with pytest.raises(AgentConfigError, match="mode must be one of regions, explore"):
        resolve_settings({"model": "m", "mode": "wander"}, {})
    for margin in (0.0, 0.6):
        with pytest.raises(AgentConfigError, match="region_margin"):
            resolve_settings({"model": "m", "region_margin": margin}, {})
    assert resolve_settings({"model": "m"}, {}).mode == "regions"


def test_key_sources_and_the_key_never_enters_the_configuration(tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(f'model = "m"\napi_key_env = "MY_KEY"\napi_key = "{SECRET}-file"\n')
    assert load_api_key(str(config), {"OPENAI_API_KEY": SECRET}).reveal() == SECRET
    assert load_api_key(str(config), {"MY_KEY": SECRET + "-var"}).reveal() == SECRET + "-var"
    assert load_api_key(str(config), {}).reveal() == SECRET + "-file"
    assert load_api_key(None, {}) is None
    key = ApiKey(SECRET)
    assert SECRET not in repr(key) and SECRET not in str(key) and SECRET not in f"{key}"
    assert key.redact(f"x{SECRET}y") == "x[redacted]y"
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    described = json.dumps(AgentDetector(model="m", config_file=str(config)).describe())
    assert SECRET not in described and "api_key" not in described


def test_cli_options_map_to_detector_params_without_a_key_flag() -> None:
    parser = argparse.ArgumentParser()
    add_run_options(parser)
    args = parser.parse_args(["--model", "m", "--base-url", "http://h/v1", "--server-profile", "llamacpp", "--accept-sandbox", "none",
                              "--max-steps", "5", "--max-chars", "1000", "--max-seconds", "9", "--agent-config", "a.toml"])
    assert detector_params(args) == {
        "model": "m", "base_url": "http://h/v1", "server_profile": "llamacpp", "accept_sandbox": "none", "max_steps": 5,
        "max_chars_sent": 1000, "max_seconds": 9.0, "config_file": "a.toml",
    }
    assert detector_params(parser.parse_args([])) == {}
    assert not any("key" in a.dest for a in parser._actions)
    with pytest.raises(SystemExit):
        parser.parse_args(["--api-key", SECRET])


# -- profiles -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "owners", "name"),
    [
        ("https://api.openai.com/v1", set(), "openai"),
        ("https://team.openai.azure.com/openai/v1/", set(), "azure"),
        ("http://127.0.0.1:11434/v1", set(), "ollama"),
        ("http://127.0.0.1:8000/v1", {"vllm"}, "vllm"),
        ("http://127.0.0.1:8080/v1", {"me"}, "llamacpp"),
        ("http://127.0.0.1:8080/v1", {"llamacpp"}, "llamacpp"),
        ("http://127.0.0.1:9999/v1", set(), "openai"),
    ],
)
def test_profile_detection(url: str, owners: set[str], name: str) -> None:
    assert detect_profile(url, owners).name == name


def test_profiles_hold_the_quirks() -> None:
    llama, openai = get_profile("llamacpp"), get_profile("openai")
    assert llama.assistant_content == "" and openai.assistant_content is None
    assert llama.response_format("s", {"type": "object"})["type"] == "json_object"
    assert openai.response_format("s", {"type": "object"})["type"] == "json_schema"
    assert llama.tool_choice() == {"type": "function", "function": {"name": ACT_TOOL}}
    assert get_profile("vllm").tool_choice() == "required" and get_profile("ollama").tool_choice() is None
    assert "maxLength" not in json.dumps(tool_specs(llama)) and "maxLength" in json.dumps(tool_specs(openai))
    with pytest.raises(AgentConfigError, match="unknown server profile"):
        get_profile("nonesuch")


def test_tool_schemas_are_self_contained() -> None:
    for profile in ("openai", "llamacpp"):
        specs = json.dumps(tool_specs(get_profile(profile)))
        assert "$ref" not in specs and "$defs" not in specs and '"title"' not in specs
    assert [t["function"]["name"] for t in tool_specs(get_profile("llamacpp"))] == [ACT_TOOL]
    schema = compact_schema(Submission)
    assert schema["properties"]["encounters"]["items"]["required"] == ["start_line"]


# -- submissions: structure, grounding, assembly ------------------------------------------------------


def _sub(*encounters: dict, done: bool = False, **extra) -> Submission:
    return Submission.model_validate({"encounters": list(encounters), "done": done, **extra})


def test_structural_faults_reject_the_whole_submission(lines: LineIndex) -> None:
    cases = {
        "outside the record": _sub({"start_line": 99}),
        "in text order": _sub({"start_line": 6}, {"start_line": 1}),
        "overlapping": _sub({"start_line": 1, "end_line": 7}, {"start_line": 6}),
        "done with no encounters": _sub(done=True),
    }
    for problem, sub in cases.items():
        checked = check_submission(sub, (), lines)
        assert checked.encounters == () and any(problem in p for p in checked.problems), problem


def test_submissions_merge_replace_and_remove(lines: LineIndex) -> None:
    first = check_submission(_sub({"start_line": 1}, {"start_line": 6}), (), lines).encounters
    second = check_submission(_sub({"start_line": 6, "provider": "Bob Stone"}, {"start_line": 11}, remove_lines=[1]), first, lines)
    assert [e.start_line for e in second.encounters] == [6, 11]
    assert second.encounters[0].provider == "Bob Stone"


def test_quotes_are_grounded_exactly_loosely_fuzzily_or_dropped(lines: LineIndex) -> None:
    end = lines.starts[5]
    assert find_quote(TEXT, "Ann Lee, MD", 0, end, lines) == (TEXT.index("Ann Lee, MD"), TEXT.index("Ann Lee, MD") + 11)
    loose = find_quote(TEXT, "north   CLINIC", 0, end, lines)
    assert TEXT[loose[0] : loose[1]] == "North Clinic"
    fuzzy = find_quote(TEXT, "Chief cornplaint: cough for tw0 weeks", 0, end, lines)  # OCR-like damage
    assert fuzzy and "cough for two weeks" in TEXT[fuzzy[0] : fuzzy[1]]
    assert find_quote(TEXT, "Bob Stone", 0, end, lines) is None, "a quote from another encounter is not in this one"
    proposal = ProposedEncounter(start_line=1, date="Date of Service: 03/14/2021", provider="Ann Lee, MD", facility="Mars Base",
                                 type="Office visit", type_value="office_visit")
    values, dropped = ground_values(proposal, lines, 0, end)
    by_field = {v.field: v for v in values}
    assert by_field["encounter_date"].value == "2021-03-14" and by_field["encounter_date"].text == "03/14/2021"
    assert by_field["provider"].text == "Ann Lee, MD"
    assert set(dropped) == {"facility", "type"}
    for v in values:
        assert TEXT[v.start : v.end] == v.text


def test_a_date_quote_that_is_no_date_and_a_discharge_before_admission_are_dropped(lines: LineIndex) -> None:
    start = lines.starts[10]
    proposal = ProposedEncounter(start_line=11, date="05/12/2021", end_date="05/10/2021")
    values, dropped = ground_values(proposal, lines, start, len(TEXT))
    assert [v.field for v in values] == ["encounter_date"] and dropped == ("end_date",)
    values, dropped = ground_values(ProposedEncounter(start_line=11, date="Attending"), lines, start, len(TEXT))
    assert values == () and dropped == ("date",)


def test_assemble_starts_at_zero_and_grounds_inside_final_spans(lines: LineIndex) -> None:
    encounters = (
        ProposedEncounter(start_line=2, provider="Ann Lee, MD"),
        ProposedEncounter(start_line=6, date="04/02/2021", provider="Carla Diaz"),  # Carla is in the next span
        ProposedEncounter(start_line=11, date="05/10/2021", end_date="05/12/2021"),
    )
    boundaries, dropped = assemble(encounters, lines)
    assert [b.start_char for b in boundaries] == [0, lines.starts[5], lines.starts[10]]
    assert dropped == 1
    stay = {v.field: v.value for v in boundaries[2].values}
    assert stay == {"encounter_date": "2021-05-10", "end_date": "2021-05-12"}


# -- hints, state -----------------------------------------------------------------------------------


def test_hints_carry_line_score_cues_and_context_in_bounded_pages(lines: LineIndex) -> None:
    hints = make_hints([EncounterBoundary(0, 0, 1.0, ("record_start",)), EncounterBoundary(lines.starts[5], 5, 7.0, ("gap_1", "header:visit_date"))], lines)
    assert hints[1].render() == "L6 s=7.0 gap_1,header:visit_date | VISIT DATE: 04/02/2021 / Seen by: Bob Stone, DO"
    pages = paginate(hints * 50, 1_000)
    assert len(pages) > 5 and all(len(p) <= 1_000 for p in pages)


def test_state_round_trips_through_json() -> None:
    state = AgentState(step=3, pages_read=merge_ranges(((1, 5),), (6, 9)), encounters=(ProposedEncounter(start_line=1, type_value="inpatient"),))
    state = state.with_calls((Call(id="a", name="read_lines", arguments="{}"),))  # type: ignore[arg-type]
    assert state.pages_read == ((1, 9),) and state.turn.pending
    assert AgentState.from_dict(json.loads(json.dumps(state.to_dict()))) == state
    assert AgentState.from_dict({"format": 0}) is None


# -- tools, with the real sandbox ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox():
    return open_sandbox(SandboxLevel.full)


@pytest.fixture
def toolbox(sandbox, lines: LineIndex, tmp_path: Path) -> ToolBox:
    paging = Paging(page_lines=4, page_chars=120, search_hits=2, output_chars=50, search_timeout_s=1.0)
    box = ToolBox(lines, "rec.txt", tmp_path / "staging", sandbox, ("L1 s=1.0 record_start | x",), paging, ApiKey(SECRET))
    yield box
    box.close()
    assert not (tmp_path / "staging").exists(), "no copy of the record is left behind"


def _run(box: ToolBox, name: str, **args):
    return box.execute(Call(id="c", name=name, arguments=json.dumps(args)), AgentState())


def test_read_lines_is_paged_and_refuses_other_files(toolbox: ToolBox) -> None:
    outcome, state = _run(toolbox, "read_lines", start=1, end=13)
    assert outcome.outcome == "ok" and outcome.text.count("\n") <= 4 and "read on from" in outcome.text
    assert len(outcome.text) < 200 and state.pages_read[0][0] == 1
    outcome, _ = _run(toolbox, "read_lines", start=11, end=12, more=[[1, 1]])
    assert outcome.text.startswith("11|ADMISSION DATE") and "\n…\n1|Date of Service" in outcome.text
    for path in ("/proc/self/environ", "/workspace/input/../../etc/shadow", "/root/.bashrc"):
        outcome, _ = _run(toolbox, "read_lines", file=path, start=1, end=2)
        assert outcome.outcome == "refused" and outcome.invalid
    outcome, _ = _run(toolbox, "read_lines", start=40, end=50)
    assert outcome.outcome == "invalid" and "not inside 1-13" in outcome.text


def test_bad_calls_are_invalid_with_a_reason(toolbox: ToolBox) -> None:
    outcome, _ = toolbox.execute(Call(id="c", name="read_lines", arguments='{"start": 1,'), AgentState())
    assert outcome.invalid and "not valid JSON" in outcome.text
    outcome, _ = toolbox.execute(Call(id="c", name="rm_rf", arguments="{}"), AgentState())
    assert outcome.invalid and outcome.tool == "invalid"
    outcome, _ = _run(toolbox, "read_lines", start="one")
    assert outcome.invalid and "invalid arguments for read_lines" in outcome.text
    outcome, _ = toolbox.execute(Call(id="c", name=ACT_TOOL, arguments=json.dumps({"tool": "show_hints", "page": 1})), AgentState())
    assert outcome.outcome == "ok" and outcome.tool == "show_hints"


def test_search_runs_in_the_sandbox_bounded_and_stops_a_catastrophic_pattern(toolbox: ToolBox) -> None:
    outcome, state = _run(toolbox, "search", pattern=r"chief complaint|date")
    assert outcome.outcome == "ok" and outcome.sandbox_exit == 0
    assert outcome.text.startswith("6 hits in lines 1-13\n1|Date of Service") and "[4 more hits" in outcome.text
    assert state.searched == ((1, 13),)
    outcome, _ = _run(toolbox, "search", pattern=r"(a|aa)+$", start_line=1)
    assert outcome.outcome == "ok"  # a harmless line set; now one that backtracks for ever:
    toolbox.input.write_text("a" * 60 + "!\n", encoding="utf-8")
    outcome, _ = _run(toolbox, "search", pattern=r"^(a|aa)+$")
    assert outcome.outcome == "timeout" and "simpler pattern" in outcome.text


def test_run_python_sees_the_record_not_the_key_and_its_output_is_capped(toolbox: ToolBox, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    code = "import os\nprint(sorted(os.environ))\nprint(open('/workspace/input/rec.txt').readline())\nprint('x' * 500)"
    outcome, _ = _run(toolbox, "run_python", code=code)
    assert outcome.sandbox_exit == 0 and "Date of Service" in outcome.text and "OPENAI" not in outcome.text
    assert "[output cut at 50 chars]" in outcome.text
    outcome, _ = _run(toolbox, "run_python", code=f"print('{SECRET}')")  # the key can only come from the model itself
    assert SECRET not in outcome.text and "[redacted]" in outcome.text
    outcome, _ = _run(toolbox, "run_python", code="open('/workspace/input/rec.txt', 'a').write('x')")
    assert outcome.outcome == "error" and outcome.sandbox_exit != 0 and ("denied" in outcome.text or "Read-only" in outcome.text)
