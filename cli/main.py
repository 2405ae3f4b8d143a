"""Entry point: the `modelport` command group and the one place errors become exit codes.

Subcommands live in their own modules and are imported here; none of them imports torch or
TensorFlow at module level, so `modelport --help` stays fast.
"""

from __future__ import annotations

import sys

import click

import modelport
from modelport.errors import EXIT_CONVERSION, ModelportError

EXIT_INTERRUPTED = 130


class ModelportGroup(click.Group):
    """Turns ModelportError into one line on stderr and its exit code; Ctrl-C into exit 130."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ModelportError as e:
            verbose = (ctx.obj or {}).get("verbose", False)
            if verbose and e.detail:
                click.echo(e.detail, err=True)
            click.echo(f"modelport: error: {e.message}", err=True)
            if e.detail and not verbose:
                click.echo("modelport: (run with --verbose for the converter's log)", err=True)
            ctx.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("modelport: interrupted; no partial output was left behind", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except Exception as e:  # a bug in modelport: still one line, the traceback on request
            if (ctx.obj or {}).get("verbose", False):
                import traceback

                traceback.print_exc()
            click.echo(f"modelport: internal error: {type(e).__name__}: {e} (run with --verbose for the traceback)", err=True)
            ctx.exit(EXIT_CONVERSION)


@click.group(cls=ModelportGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(modelport.__version__, prog_name="modelport")
@click.option("-v", "--verbose", is_flag=True, help="Show the converters' own logs.")
@click.option("--require-sandbox", is_flag=True,
              help="Refuse (exit 4) to load or run a model unless its process can be confined (bubblewrap).")
@click.option("--no-sandbox", is_flag=True,
              help="Run models unconfined, as the user (trusted models only; e.g. to debug a worker).")
@click.option("--allow-io-ops", is_flag=True,
              help="Run models whose graph reads or writes files (refused by default, exit 2); still confined.")
@click.option("--max-memory", metavar="SIZE",
              help="Stop a process that loads or runs a model once its memory passes SIZE (8G, 512M; 'off'). "
                   "Default: 80% of this machine's RAM.")
@click.option("--attempt-timeout", metavar="SECONDS",
              help="Stop any one conversion attempt (a strategy of a step) after SECONDS and go on with the "
                   "next strategy or route. Default: no limit.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool, require_sandbox: bool, no_sandbox: bool, allow_io_ops: bool,
        max_memory: str | None, attempt_timeout: str | None) -> None:
    """Convert models between PyTorch, ONNX, TensorFlow SavedModel and TFLite, and prove it.

    \b
    Exit codes: 0 ok, 1 parity failure or bench regression, 2 usage or bad input,
                3 conversion failed, 4 runtime or library unavailable.

    Every process that loads or runs a model is confined with bubblewrap where it can be: it
    reads only what the job needs and writes only its scratch folder, with no network.
    """
    ctx.ensure_object(dict)["verbose"] = verbose
    if require_sandbox and no_sandbox:
        raise click.UsageError("--require-sandbox and --no-sandbox contradict each other")
    if require_sandbox or no_sandbox:  # the environment carries the choice to every worker and batch job
        import os

        from modelport.workers.sandbox import ENV_MODE

        os.environ[ENV_MODE] = "require" if require_sandbox else "off"
    if allow_io_ops:
        import os

        from modelport.io_ops import ENV_ALLOW

        os.environ[ENV_ALLOW] = "1"
    if max_memory is not None:  # checked here (exit 2 for a bad size), carried to workers and batch jobs
        import os

        from modelport.workers.memory_limit import ENV_MAX_MEMORY, parse_size

        parse_size(max_memory)
        os.environ[ENV_MAX_MEMORY] = max_memory
    if attempt_timeout is not None:  # checked here (exit 2), carried to workers and batch jobs
        import os

        from modelport.workers.attempt_timeout import ENV_ATTEMPT_TIMEOUT, parse_seconds

        parse_seconds(attempt_timeout)
        os.environ[ENV_ATTEMPT_TIMEOUT] = attempt_timeout
    if not verbose:
        quiet_environment()


def quiet_environment() -> None:
    """TensorFlow reads its log level at import; set it before any command imports TF."""
    import os

    from modelport.workers.environment import QUIET_ENV

    import warnings

    for key, value in QUIET_ENV.items():
        if key != "CUDA_VISIBLE_DEVICES":  # doctor and runners must still see GPUs
            os.environ.setdefault(key, value)
    warnings.filterwarnings("ignore")  # library deprecation chatter (torch.jit, TF) is not ours to show


def _register() -> None:
    from modelport.cli import (batch_cmd, bench_cmd, convert_cmd, doctor_cmd, formats_cmd, inspect_cmd, locate_cmd,
                               package_cmd, validate_cmd)

    for module in (convert_cmd, validate_cmd, locate_cmd, bench_cmd, batch_cmd, package_cmd, inspect_cmd, formats_cmd,
                   doctor_cmd):
        cli.add_command(module.command)


_register()


def main() -> None:
    try:
        cli.main(prog_name="modelport", standalone_mode=True)
    except SystemExit as e:
        # click's own usage errors exit 2, matching modelport's code for bad input.
        sys.exit(e.code if e.code is not None else 0)
