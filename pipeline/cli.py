"""The ``chartsift`` command line.

Exit status: 0 success; 3 when some inputs were quarantined and the rest stored; 2 on a usage error;
1 on failure (and, for ``manifest verify``, when an input changed or disappeared).
``run`` executes the Prefect flow ``flows.process_records``, imported only when a run is asked for,
so the other commands start fast and ``pipeline`` itself holds no Prefect import.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline import __version__
from pipeline.agent.cli import add_run_options, detector_params
from pipeline.errors import ChartsiftError, UsageError
from pipeline.sandbox import cli as sandbox_cli

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_QUARANTINED = 0, 1, 2, 3

EXAMPLE_QUERY = (
    "SELECT record, encounter_index, encounter_date, encounter_type, provider, facility "
    "FROM encounters_current ORDER BY record, encounter_index LIMIT 20"
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 on usage errors; keep that, with our prefix
        self.print_usage(sys.stderr)
        print(f"chartsift: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _out_arg(parser: argparse.ArgumentParser, help_text: str = "output folder holding catalog.duckdb") -> None:
    parser.add_argument("--out", required=True, type=Path, metavar="OUT", help=help_text)


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _csv_ints(text: str) -> list[int]:
    try:
        return [int(part) for part in _csv(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated group numbers, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="chartsift",
        description="Turns long patient records into one validated, grounded, auditable row per encounter.",
        epilog="Exit status: 0 ok, 3 some inputs quarantined (the rest stored), 2 usage error, 1 failure.",
    )
    parser.add_argument("--version", action="version", version=f"chartsift {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    run = sub.add_parser("run", help="process records into OUT", description="Process record files, folders or globs "
                         "into OUT/catalog.duckdb and OUT/parquet/. Folders are walked for .txt, .text and .pdf files; "
                         "a file named explicitly is taken whatever its suffix. Re-running the same inputs with the same "
                         "configuration skips records already stored.")
    run.add_argument("paths", nargs="*", metavar="PATH", help="record files, folders or quoted globs")
    _out_arg(run, "output folder (created if missing)")
    run.add_argument("--detector", default="rules", help="encounter detector (default: rules, offline)")
    run.add_argument("--threshold", type=float, help="rules detector: probability a candidate the cues passed over needs to open an encounter (default 0.8)")
    run.add_argument("--scorer", metavar="FILE", help="rules detector: a boundary scorer from `chartsift train` "
                     "(default: the shipped one; 'none': the hand-weighted cues alone)")
    run.add_argument("--retry-quarantined", action="store_true",
                     help="also try again every input an earlier run into OUT quarantined")
    run.add_argument("--lock-timeout", type=float, default=60.0, metavar="S",
                     help="seconds to wait while another run writes OUT (default 60)")
    run.add_argument("--quiet", action="store_true", help="no progress lines")
    run.add_argument("--json", action="store_true", help="print the run summary as JSON")
    add_run_options(run)

    export = sub.add_parser("export", help="corpus-format JSON Lines of a run", description="Write one JSON line per "
                            "record of a run: {record, encounters: [{start, end, date, type, provider, facility, ...}]}.")
    _out_arg(export)
    export.add_argument("--run", help="run id (default: the latest run)")
    export.add_argument("--to", type=Path, help="write to this file instead of standard output")

    evaluate = sub.add_parser("evaluate", help="score a run against gold labels", description="Boundary P/R/F1 "
                              "(exact and within 2 lines), Pk, WindowDiff, encounter-count error and field accuracy, "
                              "per corpus slice, for chartsift and the date-split and TextTiling baselines.")
    evaluate.add_argument("--gold", required=True, type=Path, help="gold JSON Lines (corpus format)")
    evaluate.add_argument("--out", type=Path, help="output folder of the run to score")
    evaluate.add_argument("--pred", type=Path, help="score these predictions (corpus format) instead of a run")
    evaluate.add_argument("--run", help="run id (default: the latest run)")
    evaluate.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    evaluate.add_argument("--errors", type=int, default=0, metavar="N", help="list the N worst boundary misses with context")
    evaluate.add_argument("--no-baselines", action="store_true", help="skip the baselines (TextTiling is slow on big corpora)")
    evaluate.add_argument("--detect", action="store_true", help="run the detector and extractor on the gold's records in this "
                          "process (no run, no catalog) and also report how well its boundary probabilities are calibrated")
    evaluate.add_argument("--detector", default="rules", help="with --detect: the detector (default: rules)")
    evaluate.add_argument("--scorer", help="with --detect: the rules detector's scorer file, or 'none' for the hand-weighted cues")
    evaluate.add_argument("--by", action="append", default=[], metavar="KEY",
                          help="also report slices by this gold key, e.g. family, group or style (repeatable)")
    evaluate.add_argument("--jobs", type=int, default=2, help="with --detect: worker processes (default 2)")

    manifest = sub.add_parser("manifest", help="show or verify a run's manifest")
    manifest.add_argument("action", choices=["show", "verify"])
    _out_arg(manifest)
    manifest.add_argument("--run", help="run id (default: the latest run)")

    audit = sub.add_parser("audit", help="trace an encounter to its evidence, document, manifest and run")
    audit.add_argument("encounter_id")
    _out_arg(audit)

    sql = sub.add_parser("sql", help="query the catalog", description="Run one read-only SQL query on OUT/catalog.duckdb "
                         "(it never waits for a run, nor makes one wait). Start with encounters_current, encounter_diagnoses, "
                         "encounter_medications, audit_trail and quarantine_current; `chartsift dictionary` lists every "
                         "view and column.")
    _out_arg(sql)
    sql.add_argument("query")
    sql.add_argument("--max-rows", type=int, default=50)

    review = sub.add_parser("review", help="write a review page of one record", description="Write a self-contained "
                            "HTML page of one record: its text, one section per encounter, every evidence span marked.")
    _out_arg(review)
    review.add_argument("--record", help="record path (default: list the records)")
    review.add_argument("--run", help="what one run stored (default: the current version of every record)")
    review.add_argument("--to", type=Path, help="HTML file to write (default: OUT/review/<record>.html)")

    history = sub.add_parser("history", help="versions of one record", description="List every version of a record "
                             "(its bytes' sha256 and configuration) with the runs that saw it; the current one is marked. "
                             "A record is its source file: give its path, its record path or its file URI.")
    history.add_argument("record", metavar="RECORD")
    _out_arg(history)

    dictionary = sub.add_parser("dictionary", help="the catalog's data dictionary as Markdown",
                                description="Print every view of the analyst catalog with its columns, types and descriptions.")
    dictionary.add_argument("--out", type=Path, metavar="OUT", help="read it from this catalog (default: the one this version writes)")

    schema = sub.add_parser("schema", help="JSON Schema of the stored models")
    schema.add_argument("model", nargs="?", help="one model (default: all)")

    synth = sub.add_parser(
        "synth", help="generate synthetic records with gold labels",
        description="Write OUT/records/*.txt and OUT/gold.jsonl. Encounter headers are printed by header families: "
        "64 sampled from a grammar, in 6 groups by layout cluster (0 boxes, 1 one-line stamps and rule banners, "
        "2 hospital-account banners, 3 label-value blocks, 4 tables, columns and key-value, 5 prose, markdown, "
        "unlabelled title blocks and bare date lines), each group with its own labels, note sub-headers, signatures "
        "and page furniture, some with markdown section headings in their notes; "
        "group 6 holds the 17 legacy formats. A record mixes a primary family with up to two others from the "
        "selection. For a leave-family-out split, train on --exclude-groups G and measure on --groups G.")
    synth.add_argument("--out", type=Path, metavar="OUT", help="folder to write records/ and gold.jsonl into")
    synth.add_argument("--records", type=int, help="number of record files")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--variant", choices=["clean", "hard", "mixed"], default="clean")
    synth.add_argument("--families", type=_csv, metavar="ID,ID",
                       help="draw headers from these families (ids as --list-families prints them)")
    synth.add_argument("--groups", type=_csv_ints, metavar="G,G",
                       help="draw headers from the families of these groups (with --families: both); default all")
    synth.add_argument("--exclude-groups", type=_csv_ints, default=[], metavar="G,G",
                       help="then drop the families of these groups, e.g. a held-out group")
    synth.add_argument("--list-families", action="store_true",
                       help="print id, group, layout and a one-line example header of each selected family, and exit")

    train = sub.add_parser(
        "train", help="train the rules detector's boundary scorer on generated records",
        description="Generate records with the family grammar (never a corpus that scores us), label every candidate "
        "the rules weigh by whether a gold encounter starts on its line, fit a gradient-boosted model on the abstract "
        "line and block features, calibrate it on predictions for family groups each fold left out, and save it as a "
        "skops file with a JSON card (recipe, features, metrics, sha256). The default recipe rebuilds the shipped "
        "scorer. With --leave-family-out, train once per group without its families and report F1 on fresh records "
        "of the held-out group beside F1 on the groups trained on; no scorer is saved.")
    train.add_argument("--to", type=Path, metavar="FILE", help="scorer file to write (.skops; its card is FILE with .json)")
    train.add_argument("--records", type=int, help="generated training records (default: the shipped recipe's)")
    train.add_argument("--seed", type=int, help="generator and model seed (default: the shipped recipe's)")
    train.add_argument("--exclude-groups", type=_csv_ints, default=[], metavar="G,G", help="leave these family groups out of training")
    train.add_argument("--max-iter", type=int, help="boosting rounds (default: the shipped recipe's)")
    train.add_argument("--leave-family-out", type=_csv_ints, nargs="?", const=[0, 1, 2, 3, 4, 5], metavar="G,G",
                       help="measure instead of saving: hold out each of these groups in turn (default 0-5)")
    train.add_argument("--test-records", type=int, default=24, help="with --leave-family-out: fresh records per slice (default %(default)s)")
    train.add_argument("--jobs", type=int, default=2, help="worker processes (default %(default)s)")

    sandbox_cli.add_commands(sub)
    return parser


def _cmd_run(args: argparse.Namespace) -> int:
    from flows.process_records import process_records
    from flows.server import prefect_api
    from pipeline.manifest import missing_paths
    from pipeline.store import CATALOG_NAME, Catalog

    paths = [str(p) for p in args.paths]
    missing = missing_paths(paths)
    if missing:
        raise UsageError(f"no such file or folder: {missing[0]}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    if args.retry_quarantined and (args.out / CATALOG_NAME).exists():
        with Catalog(args.out, read_only=True) as catalog:
            paths += [p for p in catalog.quarantined_paths() if p not in paths]
    if not paths:
        raise UsageError("run needs at least one PATH (or --retry-quarantined with quarantined inputs in OUT)")
    params = {k: v for k, v in (("threshold", args.threshold), ("scorer", args.scorer)) if v is not None}
    if args.detector == "agent":
        params = detector_params(args)
    with prefect_api():
        summary = process_records(
            paths=paths,
            out=str(args.out),
            detector=args.detector,
            detector_params=params,
            show_progress=not args.quiet,
            lock_timeout=args.lock_timeout,
            retry_quarantined=args.retry_quarantined,
        )
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        catalog = Path(summary["out_dir"]) / "catalog.duckdb"
        print(
            f"run {summary['run_id']}: {summary['records']} records, {summary['stored']} stored, "
            f"{summary['skipped']} already stored (skipped), {summary['quarantined']} quarantined, "
            f"{summary['encounters']} encounters, {summary['seconds']:.1f} s"
        )
        if summary["ignored_files"]:
            print(f"ignored {summary['ignored_files']} files in folders that are not records (.txt, .text, .pdf)")
        for path in summary["empty"]:
            print(f"nothing to do in {path}: it holds no record files (.txt, .text, .pdf)")
        for message in summary["quarantine_messages"]:
            print(f"quarantined: {message}", file=sys.stderr)
        print(f"catalog: {catalog.resolve()}")
        print(f"parquet: {(Path(summary['out_dir']) / 'parquet').resolve()}")
        print(f'try:     chartsift sql --out {summary["out_dir"]} "{EXAMPLE_QUERY}"')
    return EXIT_QUARANTINED if summary["quarantined"] else EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    from pipeline.export import export_records
    from pipeline.store import Catalog

    with Catalog(args.out, read_only=True) as catalog:
        records = export_records(catalog, args.run)
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if args.to:
        args.to.write_text(lines, encoding="utf-8")
        print(f"wrote {len(records)} records to {args.to}", file=sys.stderr)
    else:
        sys.stdout.write(lines)
    return EXIT_OK


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from pipeline import evaluation
    from pipeline.baselines import predict

    if not args.gold.is_file():
        raise UsageError(f"gold file {args.gold} does not exist")
    gold = evaluation.load_jsonl(args.gold)
    calibration = None
    if args.detect:
        from pipeline.offline import predict_files

        records_dir = args.gold.parent / "records"
        texts_missing = [g["record"] for g in gold if not (records_dir / g["record"]).is_file()]
        if texts_missing:
            raise UsageError(f"record {texts_missing[0]} of the gold file is not in {records_dir}")
        params = {"scorer": args.scorer} if args.scorer else {}
        predictions = predict_files(((records_dir / g["record"], g["record"]) for g in gold), args.detector, params, args.jobs)
        pred = [p.corpus_entry() for p in predictions]
        texts = {p.record: p.text for p in predictions}
        calibration = evaluation.calibration(gold, predictions, texts)
    elif args.pred:
        pred = evaluation.load_jsonl(args.pred)
        texts = _corpus_texts(args.gold.parent / "records", gold)
    elif args.out:
        from pipeline.export import document_texts, export_records
        from pipeline.store import Catalog

        with Catalog(args.out, read_only=True) as catalog:
            pred = export_records(catalog, args.run)
            stored = document_texts(catalog, args.run)
        texts = _match_texts(gold, stored, args.gold.parent / "records")
    else:
        raise UsageError("evaluate needs --out OUT (a run), --pred PRED.jsonl or --detect")
    systems = {"chartsift": evaluation.score(gold, pred, texts, args.by)}
    if not args.no_baselines:
        for name in ("date-split", "texttiling"):
            systems[name] = evaluation.score(gold, predict(name, texts), texts, args.by)
    print(evaluation.render_table(systems))
    if calibration:
        print(calibration.render())
    if args.json:
        figures = evaluation.to_json(systems)
        if calibration:
            figures["calibration"] = dataclasses.asdict(calibration)
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
        print(f"wrote {args.json}", file=sys.stderr)
    if args.errors:
        print(evaluation.worst_errors(gold, pred, texts, args.errors))
    return EXIT_OK


def _corpus_texts(records_dir: Path, gold: list[dict[str, Any]]) -> dict[str, str]:
    from pipeline.ingest import decode

    texts = {}
    for entry in gold:
        path = records_dir / entry["record"]
        if not path.is_file():
            raise UsageError(f"record {entry['record']} of the gold file is not in {records_dir}")
        texts[entry["record"]] = decode(path.read_bytes(), entry["record"], "text/plain").text
    return texts


def _match_texts(gold: list[dict[str, Any]], stored: dict[str, str], records_dir: Path) -> dict[str, str]:
    """Texts keyed by gold record: the stored text of the run when it holds the record (matched by
    path suffix), else the corpus file next to the gold file."""
    from pipeline.evaluation import find_record, suffix_index

    index = suffix_index(stored)
    texts = {}
    missing = []
    for entry in gold:
        names = find_record(entry["record"], index)
        if names:
            texts[entry["record"]] = stored[names[0]]
        else:
            missing.append(entry)
    if missing:
        texts.update(_corpus_texts(records_dir, missing))
    return texts


def _cmd_manifest(args: argparse.Namespace) -> int:
    from pipeline.export import resolve_run
    from pipeline.manifest import verify_manifest
    from pipeline.store import Catalog

    with Catalog(args.out, read_only=True) as catalog:
        run_id = resolve_run(catalog, args.run)
        manifest_id = catalog.con.execute("SELECT manifest_id FROM runs WHERE run_id = ?", [run_id]).fetchone()[0]
        manifest = catalog.manifest(manifest_id)
    if args.action == "show":
        detector = manifest.detector
        print(f"manifest {manifest.manifest_id}\nrun      {run_id}\noutput   {manifest.output_dir}")
        print(f"pipeline {manifest.pipeline_version}; detector {detector['name']} {detector['version']}")
        print(f"inputs   {len(manifest.inputs)}")
        for item in manifest.inputs:
            print(f"  {item.sha256[:16]}  {item.size:>10,}  {item.media_type:<16} {item.record}")
        return EXIT_OK
    checks = verify_manifest(manifest)
    bad = [c for c in checks if c.status != "ok"]
    for check in bad:
        print(f"{check.status.upper():8} {check.record}: {check.detail}")
    print(f"{len(checks) - len(bad)} of {len(checks)} inputs unchanged; {len(bad)} changed or missing")
    return EXIT_FAILURE if bad else EXIT_OK


def _cmd_audit(args: argparse.Namespace) -> int:
    from pipeline.export import audit_trail
    from pipeline.store import Catalog

    with Catalog(args.out, read_only=True) as catalog:
        trail = audit_trail(catalog, args.encounter_id)
    e = trail["encounter"]
    print(f"encounter {e['encounter_id']}  #{e['encounter_index']} of {e['record']}")
    print(f"  lines {e['start_line']}-{e['end_line']}, chars [{e['start_char']}:{e['end_char']})")
    source = e.get("encounter_type_source")
    if source == "printed":
        kind = f"{e['encounter_type']} (printed: {e['encounter_type_text']!r})"
    elif source == "inferred":
        kind = f"{e['encounter_type']} (inferred, no type printed)"
    else:
        kind = f"{e['encounter_type']} ({e['encounter_type_text']})"  # none, or a row stored before the source was kept
    print(f"  date {e['encounter_date']}  end {e['end_date']}  type {kind}")
    print(f"  provider {e['provider']}  facility {e['facility']}")
    print(f"  detector {e['detector_name']} {e['detector_version']}, score {e['boundary_score']}, cues {', '.join(e['boundary_cues'])}")
    print("evidence:")
    for v in trail["evidence"]:
        ok = "ok" if v["matches_document"] else "MISMATCH"
        print(f"  [{v['start_char']}:{v['end_char']}] {v['field']}#{v['item_index']} {ok}: {v['text']!r}")
    d = trail["document"]
    print(f"document {d['document_id']} ({d['record']}, {d['encoding']}, {d['char_count']:,} chars, {d['line_count']:,} lines)")
    m = trail["manifest_input"]
    print(f"manifest {e['manifest_id']}: input {m.get('uri')} sha256 {m.get('sha256')} size {m.get('size')}")
    r = trail["run"]
    print(f"run      {r['run_id']}: {r['status']}, started {r['started_at']}, finished {r['finished_at']}")
    return EXIT_OK if all(v["matches_document"] for v in trail["evidence"]) else EXIT_FAILURE


def _cmd_sql(args: argparse.Namespace) -> int:
    import duckdb

    from pipeline.store import Catalog

    with Catalog(args.out, read_only=True) as catalog:
        try:
            relation = catalog.query(args.query)
        except duckdb.Error as exc:
            raise UsageError(f"query failed: {exc}") from None
        if relation is None:
            print("ok")
            return EXIT_OK
        relation.show(max_rows=args.max_rows, max_width=200)
    return EXIT_OK


def _cmd_review(args: argparse.Namespace) -> int:
    from pipeline.review import list_records, render_record_html
    from pipeline.store import Catalog

    with Catalog(args.out, read_only=True) as catalog:
        if not args.record:
            print(list_records(catalog.con, args.run).to_string(index=False))
            return EXIT_OK
        try:
            page = render_record_html(catalog.con, args.record, args.run)
        except LookupError as exc:
            raise UsageError(str(exc)) from None
    target = args.to or args.out / "review" / (args.record.replace("/", "__") + ".html")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    print(f"wrote {target}")
    return EXIT_OK


def _cmd_history(args: argparse.Namespace) -> int:
    from pipeline.store import Catalog

    path = Path(args.record)
    names = [args.record, path.resolve().as_uri()] if not args.record.startswith("file:") else [args.record]
    with Catalog(args.out, read_only=True) as catalog:
        rows = catalog.con.execute(
            """SELECT v.uri, v.version, v.is_current, v.document_id, v.config_hash, v.first_seen_at, v.last_seen_at,
                      v.first_run_id, v.last_run_id, v.sightings,
                      (SELECT count(*) FROM encounters e WHERE e.document_id = v.document_id AND e.config_hash = v.config_hash)
               FROM record_versions v
               WHERE v.uri IN (SELECT uri FROM record_sightings WHERE record = $1 OR uri = ANY($2))
               ORDER BY v.uri, v.version""",
            [args.record, names],
        ).fetchall()
    if not rows:
        raise UsageError(f"no record {args.record} in {args.out}")
    for uri in dict.fromkeys(r[0] for r in rows):
        print(uri)
        for _, version, current, doc, config, first, last, first_run, last_run, seen, encounters in (r for r in rows if r[0] == uri):
            mark = "current" if current else "       "
            print(f"  v{version} {mark} sha256 {doc[:16]}  config {config[:12]}  {encounters} encounters  "
                  f"first {first:%Y-%m-%d %H:%M:%S} ({first_run})  last {last:%Y-%m-%d %H:%M:%S} ({last_run})  seen {seen}x")
    return EXIT_OK


def _cmd_dictionary(args: argparse.Namespace) -> int:
    import tempfile

    from pipeline.catalog import build_catalog, data_dictionary
    from pipeline.store import Catalog

    if args.out:
        with Catalog(args.out, read_only=True) as catalog:
            print(data_dictionary(catalog.con))
        return EXIT_OK
    with tempfile.TemporaryDirectory(prefix="chartsift-dictionary-") as tmp:
        with Catalog(Path(tmp)) as writer:
            writer.write_schema_files()
        build_catalog(Path(tmp))
        with Catalog(Path(tmp), read_only=True) as catalog:
            print(data_dictionary(catalog.con))
    return EXIT_OK


def _cmd_schema(args: argparse.Namespace) -> int:
    from schemas import SCHEMA_MODELS

    if args.model and args.model not in SCHEMA_MODELS:
        raise UsageError(f"unknown model {args.model!r}; one of: {', '.join(SCHEMA_MODELS)}")
    models = {args.model: SCHEMA_MODELS[args.model]} if args.model else SCHEMA_MODELS
    schemas = {name: model.model_json_schema() for name, model in models.items()}
    print(json.dumps(schemas[args.model] if args.model else schemas, indent=2))
    return EXIT_OK


def _cmd_synth(args: argparse.Namespace) -> int:
    from pipeline.synth import FAMILY_BY_ID, family_example, generate_corpus, select_families

    try:
        families = select_families(args.families, args.groups, args.exclude_groups)
        if args.list_families:
            for fid in families:
                family = FAMILY_BY_ID[fid]
                lines = [line.strip() for line in family_example(fid) if re.search(r"\w", line)]  # no box rules
                example = re.sub(r"\s{3,}", "  ", " ⏎ ".join(lines))
                print(f"{fid:<17}{family.group}  {family.layout:<15} {example[:140]}")
            return EXIT_OK
        if args.out is None or args.records is None:
            raise UsageError("synth needs --out and --records (or --list-families)")
        gold = generate_corpus(args.out, records=args.records, seed=args.seed, variant=args.variant, families=families)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    encounters = sum(len(g["encounters"]) for g in gold)
    print(f"wrote {len(gold)} records with {encounters} encounters to {args.out}/records and {args.out}/gold.jsonl")
    return EXIT_OK


def _cmd_train(args: argparse.Namespace) -> int:
    from pipeline.training import TrainingRecipe, leave_family_out, render_leave_family_out, train

    chosen = {"records": args.records, "seed": args.seed, "max_iter": args.max_iter}
    recipe = TrainingRecipe(exclude_groups=tuple(str(g) for g in args.exclude_groups),
                            **{k: v for k, v in chosen.items() if v is not None})
    say = (lambda msg: print(msg, file=sys.stderr))
    if args.leave_family_out is not None:
        print(render_leave_family_out(leave_family_out(recipe, args.leave_family_out, args.test_records, args.jobs, say)))
        return EXIT_OK
    if args.to is None:
        raise UsageError("train needs --to FILE (or --leave-family-out)")
    card = train(recipe, args.to, args.jobs, say)
    print(f"wrote {args.to} (sha256 {card.sha256[:12]}…): out-of-fold log loss {card.metrics['out_of_fold_log_loss']}, "
          f"ECE {card.metrics['out_of_fold_ece']}; use it with --scorer {args.to} or copy it over the shipped scorer")
    return EXIT_OK


COMMANDS = {
    "run": _cmd_run,
    "export": _cmd_export,
    "evaluate": _cmd_evaluate,
    "manifest": _cmd_manifest,
    "audit": _cmd_audit,
    "sql": _cmd_sql,
    "review": _cmd_review,
    "history": _cmd_history,
    "dictionary": _cmd_dictionary,
    "schema": _cmd_schema,
    "synth": _cmd_synth,
    "train": _cmd_train,
    "sandbox": sandbox_cli.handle,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"chartsift: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ChartsiftError as exc:
        print(f"chartsift: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except BrokenPipeError:  # `chartsift export --out OUT | head`: the reader left; nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
