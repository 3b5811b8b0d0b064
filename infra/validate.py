#!/usr/bin/env python3
"""Validate Switchboard's infrastructure without a Bicep compiler or an Azure account.

Run through infra/validate.sh, which creates the virtualenv with pinned checkov and pycep-parser.
Every step is a named check; the run ends with "N passed, N failed" and exits non-zero on any
failure. Steps:

  parse        every .bicep file parses with pycep (checkov's pinned version, and the latest
               pycep-parser too when SWITCHBOARD_PYCEP_LATEST points at it)
  checkov      infra/ under the bicep framework with the built-in and the custom CKV_SWB_*
               policies: no parsing error (checkov itself exits 0 on those), no failed check
  policies     the custom policies fail exactly as infra/checkov/tests/expected.json says on the
               bad samples, pass on the good samples, and every CKV_SWB_* policy was loaded and
               both failed and passed somewhere (a policy that crashes on import is only logged
               by checkov, so "no failure" alone would prove nothing)
  dockerfile   checkov's Dockerfile policies on ./Dockerfile
  workflows    checkov's GitHub Actions policies on .github/workflows
  types        every resource in infra/ against the Bicep compiler's type definitions
               (infra/typecheck.py, types copied into infra/types/types.json): type@apiVersion
               exists, properties exist and are writable, literal values allowed; and each rule
               fails on its sample in infra/types/tests/bad-*.bicep, good.bicep passes
  files        azure.yaml, main.parameters.json and infra/config/*.toml are well-formed
  consistency  infra agrees with itself and with the binary: queue names, lock duration and
               delivery count between servicebus.bicep and the worker config; env var names in
               apps.bicep are all read by the binary (ENV_VARS in switchboard-worker's config/env.rs);
               container args; azd service names
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any, Callable

INFRA = Path(__file__).resolve().parent
ROOT = INFRA.parent
CHECKS_DIR = INFRA / "checkov"
TESTS_DIR = CHECKS_DIR / "tests"

results: list[tuple[str, bool, str]] = []


def step(name: str) -> Callable[[Callable[[], list[str]]], Callable[[], None]]:
    """Register a check: the function returns a list of problems (empty = passed)."""

    def wrap(fn: Callable[[], list[str]]) -> Callable[[], None]:
        def run() -> None:
            try:
                problems = fn()
            except Exception as exc:  # a crashing check is a failing check
                problems = [f"{type(exc).__name__}: {exc}"]
            ok = not problems
            results.append((name, ok, "\n".join(problems)))
            print(f"{'ok  ' if ok else 'FAIL'} {name}")
            for problem in problems:
                print(f"       {problem}")
            sys.stdout.flush()

        run.__name__ = fn.__name__
        return run

    return wrap


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


def parse_bicep(path: Path) -> dict[str, Any]:
    from pycep import BicepParser

    return BicepParser().parse(text=path.read_text(encoding="utf-8"))


def run_checkov(args: list[str]) -> dict[str, Any]:
    """Run checkov with JSON output; returns the report for the single framework asked for."""
    cmd = [
        sys.executable,
        "-m",
        "checkov.main",
        "--skip-download",
        "--compact",
        "--output",
        "json",
        *args,
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise RuntimeError(
            f"checkov produced no JSON (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}"
        ) from exc
    if isinstance(report, list):
        # Several reports only appear for image scanning; we ask for one framework at a time.
        report = report[0]
    if "results" not in report:
        # checkov prints a bare summary when a framework found nothing to scan.
        report = {"results": {}, "summary": report}
    return report


def checks_of(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return list(report.get("results", {}).get(kind, []))


def describe(check: dict[str, Any]) -> str:
    return f"{check['check_id']} {check['resource']} ({check['file_path']}): {check['check_name']}"


def custom_policy_ids() -> set[str]:
    ids: set[str] = set()
    for path in CHECKS_DIR.glob("*.py"):
        ids.update(re.findall(r'id="(CKV_SWB_\d+)"', path.read_text(encoding="utf-8")))
    return ids


# ---------------------------------------------------------------------------------------------


@step("parse: every .bicep parses (pycep, checkov's version)")
def parse_all() -> list[str]:
    problems = []
    files = bicep_files()
    if len(files) < 10:
        problems.append(f"only {len(files)} .bicep files found under infra/; expected the full set")
    for path in files:
        try:
            parse_bicep(path)
        except Exception as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            problems.append(f"{rel(path)}: {type(exc).__name__}: {first_line}")
    return problems


@step("parse: every .bicep parses (latest pycep-parser)")
def parse_all_latest() -> list[str]:
    target = os.environ.get("SWITCHBOARD_PYCEP_LATEST")
    if not target:
        return ["SWITCHBOARD_PYCEP_LATEST is not set (infra/validate.sh installs the latest parser there)"]
    snippet = (
        "import sys, pathlib\n"
        "from pycep import BicepParser\n"
        "bad = 0\n"
        "for f in sys.argv[1:]:\n"
        "    try:\n"
        "        BicepParser().parse(text=pathlib.Path(f).read_text(encoding='utf-8'))\n"
        "    except Exception as e:\n"
        "        bad += 1\n"
        "        print(f'{f}: {type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else \"\"}')\n"
        "sys.exit(1 if bad else 0)\n"
    )
    env = dict(os.environ, PYTHONPATH=target)
    proc = subprocess.run(
        [sys.executable, "-c", snippet, *map(str, bicep_files())],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        return (proc.stdout.strip() or proc.stderr.strip()).splitlines() or ["parser failed"]
    return []


@step("checkov: infra/ (bicep, built-in + CKV_SWB policies) has no parse error and no failed check")
def checkov_infra() -> list[str]:
    report = run_checkov(
        [
            "--framework",
            "bicep",
            "--directory",
            "infra",
            "--skip-path",
            "checkov/tests",
            "--skip-path",
            "types/tests",
            "--external-checks-dir",
            "infra/checkov",
        ]
    )
    summary = report.get("summary", {})
    problems = [f"parsing error: {p}" for p in report.get("results", {}).get("parsing_errors", [])]
    if summary.get("parsing_errors"):
        problems.append(f"{summary['parsing_errors']} file(s) checkov could not parse")
    problems += [describe(c) for c in checks_of(report, "failed_checks")]
    if summary.get("resource_count", 0) < 40:
        problems.append(f"checkov saw only {summary.get('resource_count', 0)} resources; expected the whole deployment")
    for skipped in checks_of(report, "skipped_checks"):
        comment = (skipped.get("check_result") or {}).get("suppress_comment", "")
        if not comment or comment == "No comment provided":
            problems.append(f"{skipped['check_id']} skipped without a justification in {skipped['file_path']}")
    global _infra_report
    _infra_report = report
    return problems


_infra_report: dict[str, Any] = {}


@step("policies: CKV_SWB_* fail exactly as expected on infra/checkov/tests/bad and pass on good")
def custom_policies() -> list[str]:
    problems: list[str] = []
    expected_doc = json.loads((TESTS_DIR / "expected.json").read_text(encoding="utf-8"))
    expected = {
        (file, resource, check)
        for file, resources in expected_doc.items()
        if not file.startswith("_")
        for resource, checks in resources.items()
        for check in checks
    }

    bad = run_checkov(
        [
            "--framework",
            "bicep",
            "--directory",
            str(TESTS_DIR / "bad"),
            "--external-checks-dir",
            "infra/checkov",
        ]
    )
    if bad.get("summary", {}).get("parsing_errors"):
        problems.append(f"bad samples: {bad['summary']['parsing_errors']} parsing error(s)")
    actual = set()
    for check in checks_of(bad, "failed_checks"):
        if check["check_id"].startswith("CKV_SWB_"):
            actual.add((Path(check["file_path"]).name, check["resource"].rsplit(".", 1)[1], check["check_id"]))
    for missing in sorted(expected - actual):
        problems.append(f"expected failure not raised: {missing[2]} on {missing[1]} in bad/{missing[0]}")
    for extra in sorted(actual - expected):
        problems.append(f"unexpected failure: {extra[2]} on {extra[1]} in bad/{extra[0]}")
    bad_files = {p.name for p in (TESTS_DIR / "bad").glob("*.bicep")}
    if bad_files != {f for f in expected_doc if not f.startswith("_")}:
        problems.append(f"expected.json covers {sorted(k for k in expected_doc if not k.startswith('_'))}, bad/ has {sorted(bad_files)}")

    good = run_checkov(
        [
            "--framework",
            "bicep",
            "--directory",
            str(TESTS_DIR / "good"),
            "--external-checks-dir",
            "infra/checkov",
        ]
    )
    if good.get("summary", {}).get("parsing_errors"):
        problems.append(f"good samples: {good['summary']['parsing_errors']} parsing error(s)")
    for check in checks_of(good, "failed_checks"):
        if check["check_id"].startswith("CKV_SWB_"):
            problems.append(f"good sample fails: {describe(check)}")

    # Every policy must have been loaded and exercised both ways.
    declared = custom_policy_ids()
    if len(declared) < 15:
        problems.append(f"only {len(declared)} CKV_SWB policies declared in infra/checkov")
    failed_somewhere = {c for (_, _, c) in actual}
    passed_somewhere = {
        c["check_id"]
        for report in (good, _infra_report)
        for c in checks_of(report, "passed_checks")
        if c["check_id"].startswith("CKV_SWB_")
    }
    for policy in sorted(declared, key=lambda s: int(s.rsplit("_", 1)[1])):
        if policy not in failed_somewhere:
            problems.append(f"{policy} never failed on a bad sample (not loaded, or not tested)")
        if policy not in passed_somewhere:
            problems.append(f"{policy} never passed on infra/ or a good sample (not loaded, or too strict)")
    return problems


@step("dockerfile: checkov Dockerfile policies pass")
def checkov_dockerfile() -> list[str]:
    if not (ROOT / "Dockerfile").is_file():
        return ["no Dockerfile at the repository root"]
    report = run_checkov(["--framework", "dockerfile", "--file", "Dockerfile"])
    problems = [describe(c) for c in checks_of(report, "failed_checks")]
    if not checks_of(report, "passed_checks"):
        problems.append("checkov evaluated no Dockerfile policy")
    return problems


@step("workflows: checkov GitHub Actions policies pass")
def checkov_workflows() -> list[str]:
    report = run_checkov(["--framework", "github_actions", "--directory", ".github/workflows"])
    problems = [describe(c) for c in checks_of(report, "failed_checks")]
    if not checks_of(report, "passed_checks"):
        problems.append("checkov evaluated no workflow policy")
    return problems


def _typecheck():
    sys.path.insert(0, str(INFRA))
    import typecheck  # infra/typecheck.py

    return typecheck


TYPE_SAMPLES = INFRA / "types" / "tests"


@step("types: every resource in infra/ matches the Bicep type definitions (infra/typecheck.py)")
def typed_check() -> list[str]:
    typecheck = _typecheck()
    files = [p for p in bicep_files() if CHECKS_DIR not in p.parents and TYPE_SAMPLES not in p.parents]
    findings = typecheck.check_files(files, ROOT, parse_bicep)
    problems = [f"[{rule}] {message}" for rule, message in findings]
    if len(files) < 10:
        problems.append(f"type-checked only {len(files)} files")
    return problems


@step("types: each rule fails on its sample (infra/types/tests/bad-*.bicep), good.bicep passes")
def typed_check_samples() -> list[str]:
    typecheck = _typecheck()
    problems: list[str] = []
    rules_failed: set[str] = set()
    for sample in sorted(TYPE_SAMPLES.glob("*.bicep")):
        expected = set(re.findall(r"^// expect: (\S+)", sample.read_text(encoding="utf-8"), re.M))
        found = typecheck.check_files([sample], ROOT, parse_bicep)
        rules = {rule for rule, _ in found}
        if sample.name.startswith("bad-"):
            if not expected:
                problems.append(f"{sample.name}: no `// expect: <rule>` line")
            elif rules != expected:
                problems.append(f"{sample.name}: expected {sorted(expected)}, got {sorted(rules)}: {[m for _, m in found]}")
            rules_failed |= rules & expected
        elif found:
            problems.append(f"{sample.name} should pass: {[m for _, m in found]}")
    for rule in ("type", "property", "read-only", "literal"):
        if rule not in rules_failed:
            problems.append(f"rule `{rule}` has no failing sample")
    return problems


@step("files: azure.yaml, main.parameters.json and infra/config/*.toml are well-formed")
def files_well_formed() -> list[str]:
    problems = []
    params = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))
    main = parse_bicep(INFRA / "main.bicep")
    declared = set(main.get("parameters", {}))
    for name in params.get("parameters", {}):
        if name not in declared:
            problems.append(f"main.parameters.json sets `{name}`, which main.bicep does not declare")
    for path in sorted((INFRA / "config").glob("*.toml")):
        try:
            tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            problems.append(f"{rel(path)}: {exc}")
    azure_yaml = ROOT / "azure.yaml"
    if not azure_yaml.is_file():
        problems.append("azure.yaml is missing")
    return problems


def _resource(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return doc["resources"][name]["config"]


def _param_default(doc: dict[str, Any], name: str) -> Any:
    return doc["parameters"][name].get("default")


def _azure_yaml_services() -> set[str]:
    """Service names from azure.yaml (a tiny reader: top-level `services:` block, two-space keys)."""
    services: set[str] = set()
    in_services = False
    for line in (ROOT / "azure.yaml").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith(" "):
            in_services = line.rstrip() == "services:"
            continue
        match = re.match(r"^  ([A-Za-z0-9_-]+):\s*$", line)
        if in_services and match:
            services.add(match.group(1))
    return services


# Env vars the apps set that the binary does not read (yet), each with its reason.
ENV_NOT_READ_BY_BINARY = {
    # A revision trigger, not configuration: the config file's hash (apps.bicep).
    "SWITCHBOARD_CONFIG_REVISION": "revision trigger",
}


def _binary_env_vars() -> set[str] | None:
    config_rs = ROOT / "crates" / "switchboard-worker" / "src" / "config" / "env.rs"
    if not config_rs.is_file():
        return None
    match = re.search(r"pub const ENV_VARS: &\[&str\] = &\[(.*?)\];", config_rs.read_text(encoding="utf-8"), re.S)
    if not match:
        return None
    return set(re.findall(r'"([A-Z0-9_]+)"', match.group(1)))


@step("consistency: queues, env vars, args and service names agree across infra and the binary")
def consistency() -> list[str]:
    problems: list[str] = []
    servicebus = parse_bicep(INFRA / "modules" / "servicebus.bicep")
    apps = parse_bicep(INFRA / "modules" / "apps.bicep")
    config = tomllib.loads((INFRA / "config" / "switchboard.toml").read_text(encoding="utf-8"))

    # Queue names and settings: the worker config must describe the queues Bicep creates.
    queue_cfg = config.get("queue", {})
    for key, param in (
        ("incoming_queue", "incomingQueueName"),
        ("events_queue", "eventsQueueName"),
        ("rejects_queue", "rejectsQueueName"),
    ):
        if queue_cfg.get(key) != _param_default(servicebus, param):
            problems.append(
                f"config [queue] {key} = {queue_cfg.get(key)!r} but servicebus.bicep {param} defaults to {_param_default(servicebus, param)!r}"
            )
    for queue, lock_key in (
        ("incomingQueue", "incoming_lock_duration_secs"),
        ("eventsQueue", "lock_duration_secs"),
    ):
        props = _resource(servicebus, queue)["properties"]
        if props.get("lockDuration") != f"PT{queue_cfg.get(lock_key)}S":
            problems.append(f"{queue} lockDuration {props.get('lockDuration')} != config {lock_key} {queue_cfg.get(lock_key)}")
        if props.get("maxDeliveryCount") != queue_cfg.get("max_delivery_count"):
            problems.append(f"{queue} maxDeliveryCount {props.get('maxDeliveryCount')} != config max_delivery_count {queue_cfg.get('max_delivery_count')}")
    if _resource(servicebus, "incomingQueue")["properties"].get("requiresSession") is not False:
        problems.append("incoming-calls must not be session-enabled (MessageId = event id for duplicate detection; one event per call needs no session; see servicebus.bicep)")
    if _resource(servicebus, "eventsQueue")["properties"].get("requiresSession") is not True:
        problems.append("call-events must be session-enabled (session id = correlationId)")

    # Container args, env var names, grace period.
    binary_env = _binary_env_vars()
    if binary_env is None:
        problems.append("cannot read ENV_VARS from crates/switchboard-worker/src/config/env.rs")
    expected_args = {"worker": ["worker"], "ingress": ["ingress"]}
    for app, args in expected_args.items():
        template = _resource(apps, app)["properties"]["template"]
        container = template["containers"][0]
        if container.get("args") != args:
            problems.append(f"{app} container args {container.get('args')} != {args}")
        names = [v.get("name") for v in container.get("env", [])]
        if len(names) != len(set(names)):
            problems.append(f"{app}: duplicate env var names")
        if binary_env is not None:
            for name in names:
                if name not in binary_env and name not in ENV_NOT_READ_BY_BINARY:
                    problems.append(f"{app} sets {name}, which the binary does not read (ENV_VARS)")
        tags = _resource(apps, app).get("tags", {})
        if app not in json.dumps(tags):
            problems.append(f"{app} app is not tagged azd-service-name: {app}")
    # KEDA's per-replica targets come from the worker's concurrency: the two must agree.
    worker_cfg = config.get("worker", {})
    for key, param in (("concurrency", "workerConcurrency"), ("incoming_reserved", "workerIncomingReserved")):
        if worker_cfg.get(key) != _param_default(apps, param):
            problems.append(
                f"config [worker] {key} = {worker_cfg.get(key)!r} but apps.bicep {param} defaults to {_param_default(apps, param)!r} (KEDA targets derive from it)"
            )
    rules = {r["name"]: r for r in _resource(apps, "worker")["properties"]["template"]["scale"]["rules"]}
    if json.dumps(rules.get("call-events", {})).find("sessionsPerReplica") < 0:
        problems.append("the call-events scale rule's target is not sessionsPerReplica")
    if json.dumps(rules.get("incoming-calls", {})).find("workerIncomingReserved") < 0:
        problems.append("the incoming-calls scale rule's target is not workerIncomingReserved")

    worker_grace = _resource(apps, "worker")["properties"]["template"].get("terminationGracePeriodSeconds")
    config_grace = config.get("worker", {}).get("grace_period_secs")
    if isinstance(worker_grace, int) and isinstance(config_grace, int) and config_grace >= worker_grace:
        problems.append(f"worker grace_period_secs {config_grace} must be shorter than terminationGracePeriodSeconds {worker_grace}")

    # No secret in the deployment outputs (azd writes them in plain text to .azure/<env>/.env).
    main = parse_bicep(INFRA / "main.bicep")
    for name, output in (main.get("outputs") or {}).items():
        text = json.dumps(output.get("value"))
        if re.search(r"connectionstring|listkeys|instrumentationkey|secret", text, re.I) or re.search(r"CONNECTION_STRING|KEY$", name):
            problems.append(f"main.bicep output {name} looks like a secret: {text[:80]}")

    # bicepconfig.json: the linter's rules are errors (for whoever runs the Bicep compiler).
    bicepconfig = json.loads((INFRA / "bicepconfig.json").read_text(encoding="utf-8"))
    rules = bicepconfig.get("analyzers", {}).get("core", {}).get("rules", {})
    for required in ("no-unused-params", "no-unused-vars", "outputs-should-not-contain-secrets", "use-secure-value-for-secure-inputs"):
        if rules.get(required, {}).get("level") != "error":
            problems.append(f"bicepconfig.json: rule {required} is not an error")
    lax = sorted(r for r, v in rules.items() if v.get("level") not in ("error", "off"))
    if lax:
        problems.append(f"bicepconfig.json: rules neither error nor off: {lax}")

    services = _azure_yaml_services()
    if services != set(expected_args):
        problems.append(f"azure.yaml services {sorted(services)} != {sorted(expected_args)}")
    return problems


@step("scripts: shellcheck passes on infra/**/*.sh")
def shellcheck_scripts() -> list[str]:
    shellcheck = os.environ.get("SWITCHBOARD_SHELLCHECK") or "shellcheck"
    scripts = sorted(str(p) for p in INFRA.rglob("*.sh"))
    if not scripts:
        return ["no shell scripts found under infra/"]
    try:
        proc = subprocess.run([shellcheck, "--severity=style", *scripts], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return [f"shellcheck not found at {shellcheck}"]
    if proc.returncode != 0:
        return (proc.stdout + proc.stderr).strip().splitlines()[:40]
    return []


FAKE_AZ = r"""#!/usr/bin/env python3
# Stand-in for the Azure CLI: records every call, answers the few queries the script makes.
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_AZ_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps(args) + "\n")
def opt(name):
    return args[args.index(name) + 1] if name in args else ""
roles = {"Presence.Read.All": "a70e0c2d-e793-494c-94c4-118fa0a67f42", "User.Read.All": "df021288-bdef-4463-88db-98f22de89214"}
if args[:3] == ["ad", "sp", "show"]:
    query = opt("--query")
    if query == "id":
        print("99999999-9999-9999-9999-999999999999")
    else:
        for value, role_id in roles.items():
            if "'" + value + "'" in query:
                print(role_id)
elif args[:1] == ["rest"] and opt("--method") == "GET":
    for role in filter(None, os.environ.get("FAKE_AZ_ASSIGNED", "").split(",")):
        print(roles[role])
elif args[:1] == ["rest"] and opt("--method") == "POST":
    body = json.loads(opt("--body"))
    assert body["resourceId"] == "99999999-9999-9999-9999-999999999999", body
else:
    sys.exit("fake az: unexpected call " + " ".join(args))
"""


@step("scripts: grant-graph-permissions.sh grants, skips, checks and dry-runs correctly (fake az)")
def graph_script() -> list[str]:
    import tempfile

    script = INFRA / "teams" / "grant-graph-permissions.sh"
    principal = "12345678-1234-1234-1234-123456789012"
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        fake = Path(tmp) / "az"
        fake.write_text(FAKE_AZ.replace("#!/usr/bin/env python3", f"#!{sys.executable}", 1), encoding="utf-8")
        fake.chmod(0o755)
        log = Path(tmp) / "calls.jsonl"

        def run(args: list[str], assigned: str) -> tuple[int, str, list[dict[str, Any]]]:
            log.write_text("", encoding="utf-8")
            env = dict(os.environ, PATH=f"{tmp}:{os.environ.get('PATH', '')}", FAKE_AZ_LOG=str(log), FAKE_AZ_ASSIGNED=assigned)
            proc = subprocess.run(["bash", str(script), *args], capture_output=True, text=True, env=env, check=False)
            calls = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]
            posts = [json.loads(c[c.index("--body") + 1]) for c in calls if c[:1] == ["rest"] and "POST" in c]
            return proc.returncode, proc.stdout + proc.stderr, posts

        code, out, posts = run(["--principal-id", principal], "")
        granted = sorted(p["appRoleId"] for p in posts)
        if code != 0 or granted != sorted(["a70e0c2d-e793-494c-94c4-118fa0a67f42", "df021288-bdef-4463-88db-98f22de89214"]):
            problems.append(f"fresh grant: exit {code}, posted {granted}: {out.strip()}")
        if any(p["principalId"] != principal for p in posts):
            problems.append("fresh grant: wrong principalId in the assignment body")

        code, out, posts = run(["--principal-id", principal], "Presence.Read.All")
        if code != 0 or [p["appRoleId"] for p in posts] != ["df021288-bdef-4463-88db-98f22de89214"]:
            problems.append(f"re-run: expected only User.Read.All to be granted, got exit {code}, {posts}")

        code, out, posts = run(["--principal-id", principal, "--check"], "User.Read.All")
        if code != 1 or posts or "MISSING   Presence.Read.All" not in out:
            problems.append(f"--check with a missing permission: exit {code}, posts {posts}: {out.strip()}")

        code, out, posts = run(["--principal-id", principal, "--check"], "User.Read.All,Presence.Read.All")
        if code != 0 or posts:
            problems.append(f"--check when complete: exit {code}, posts {posts}")

        code, out, posts = run(["--principal-id", principal, "--what-if"], "")
        if code != 0 or posts or out.count("would grant") != 2:
            problems.append(f"--what-if: exit {code}, posts {posts}: {out.strip()}")

        code, out, posts = run(["--principal-id", "not-a-guid"], "")
        if code != 2 or posts:
            problems.append(f"bad principal id: expected exit 2, got {code}")
    return problems


def main() -> int:
    os.chdir(ROOT)
    for check in (
        parse_all,
        parse_all_latest,
        checkov_infra,
        custom_policies,
        checkov_dockerfile,
        checkov_workflows,
        typed_check,
        typed_check_samples,
        files_well_formed,
        consistency,
        shellcheck_scripts,
        graph_script,
    ):
        check()
    passed = sum(1 for _, ok, _ in results if ok)
    failed = len(results) - passed
    print()
    print(f"infra: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
