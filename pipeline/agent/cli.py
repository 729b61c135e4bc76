"""Run options of the agent detector for ``chartsift run``, and their mapping to detector parameters.

The API key has no flag: it is read at run time from ``OPENAI_API_KEY`` or the config file, so it can
never become a detector parameter, a manifest field or part of the configuration hash.
"""

from __future__ import annotations

import argparse
from typing import Any

from pipeline.agent.profiles import profile_names
from pipeline.agent.settings import AGENT_MODES, SANDBOX_LEVELS, Budgets

_FLAGS = {
    "model": "model",
    "agent_mode": "mode",
    "base_url": "base_url",
    "server_profile": "server_profile",
    "agent_config": "config_file",
    "accept_sandbox": "accept_sandbox",
    "max_steps": "max_steps",
    "max_chars": "max_chars_sent",
    "max_seconds": "max_seconds",
    "model_timeout": "timeout_s",
}


def add_run_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("agent detector (--detector agent)")
    group.add_argument("--model", help="model name (default: $CHARTSIFT_MODEL or the config file)")
    group.add_argument(
        "--agent-mode", choices=AGENT_MODES,
        help="regions (default): the rules decide and the model settles only the candidates they are unsure of, "
        "seeing a few lines around each; explore: the model pages through the record with sandboxed tools",
    )
    group.add_argument("--base-url", help="OpenAI-compatible server URL (default: $OPENAI_BASE_URL); the key comes from $OPENAI_API_KEY")
    group.add_argument("--server-profile", choices=["auto", *profile_names()], help="server quirks (default: detected)")
    group.add_argument("--agent-config", metavar="FILE", help="TOML file with model, base_url, api_key_env, budgets")
    group.add_argument("--accept-sandbox", choices=SANDBOX_LEVELS, help="weakest sandbox level to accept (default: full)")
    group.add_argument("--max-steps", type=int, help=f"steps per record (default {Budgets.max_steps})")
    group.add_argument("--max-chars", type=int, help=f"characters sent to the model per record (default {Budgets.max_chars_sent})")
    group.add_argument("--max-seconds", type=float, help=f"wall time per record (default {Budgets.max_seconds:.0f})")
    group.add_argument("--model-timeout", type=float, help="seconds to wait for one model reply (default 60)")


def detector_params(args: argparse.Namespace) -> dict[str, Any]:
    """``PipelineConfig.detector_params`` from the parsed flags: only those given."""
    return {param: value for flag, param in _FLAGS.items() if (value := getattr(args, flag, None)) is not None}
