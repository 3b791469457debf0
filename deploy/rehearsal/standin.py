#!/usr/bin/env python3
"""Stand-ins for `gcloud` and `docker` that rehearse deploy/deploy.sh from an
empty Google Cloud project on this machine.

They keep what a real project keeps (enabled APIs, the Artifact Registry
repository and pushed images, service accounts, IAM bindings, a Cloud SQL
instance with its databases and users, a Firestore database with its TTL
policies (firestore_standin.py), secrets and their versions) as files
under $GCLOUD_STANDIN_STATE, and fail the way gcloud fails: an unknown flag,
a resource that exists already, a missing one, an API not enabled yet
(403 SERVICE_DISABLED), a role granted to a service account IAM has not
propagated yet, a binding added without --condition to a policy that holds
a conditional one (as gcloud refuses it when it cannot prompt). Flags may
come from a --flags-file, as gcloud's may. One rule is the rehearsal's and
not gcloud's: a password on the command line (--password,
--root-password) is refused, since `ps` shows it to every user. Cloud Run
itself is the emulator of the integration-tests crate (`cloud-run-emulator`)
at $CLOUD_RUN_EMULATOR: `run services replace` and `describe` call its
control API.

Every call is appended to $STATE/calls.log (one JSON line, passwords
redacted). Environment:
  GCLOUD_STANDIN_STATE        the project's state directory (required)
  CLOUD_RUN_EMULATOR          http://127.0.0.1:PORT of the emulator
  GCLOUD_STANDIN_FAIL_AT      "sql users create" (or several, ';'-separated):
                              the first matching call fails before it acts
                              (once per state directory: a rerun with the
                              same setting goes through)
  GCLOUD_STANDIN_FAIL_AFTER   the same, but the call acts and then reports a
                              failure (a timeout after the change was made)
  GCLOUD_STANDIN_DENIED       "projects add-iam-policy-binding" (or several,
                              ';'-separated): matching calls are refused 403
                              every time (the deployer lacks the permission)
  GCLOUD_STANDIN_IAM_DELAY    calls for which a new service account cannot
                              be granted roles (default 5)
  GCLOUD_STANDIN_DOMAIN_RESTRICTED=1  the organisation refuses allUsers
  GCLOUD_STANDIN_POSTGRES=0   no real PostgreSQL behind Cloud SQL
  GCLOUD_STANDIN_POSTGRES_DIR where PostgreSQL's versions are installed
                              (default /usr/lib/postgresql; VERSION/bin/initdb)

Cloud SQL: `sql instances create` starts a real PostgreSQL (initdb/pg_ctl)
that listens only on a Unix socket, in $STATE/cloudsql/PROJECT:REGION:INSTANCE
(the directory Cloud Run mounts at /cloudsql/PROJECT:REGION:INSTANCE), with
password authentication; users and databases are created in it the way Cloud
SQL does (members of cloudsqlsuperuser, databases owned by it).
`sql instances delete` stops it.
"""

import fcntl
import hashlib
import json
import os
import re
import secrets as random
import shutil
import subprocess
import sys
import urllib.error
import urllib.request

import firestore_standin

PROJECT_NUMBER = "123456789012"

# Flags every gcloud command accepts ("GCLOUD WIDE FLAGS" on each page).
WIDE = {
    "--access-token-file": "value", "--account": "value", "--billing-project": "value",
    "--configuration": "value", "--flags-file": "value", "--flatten": "value",
    "--format": "value", "--help": "bool", "--impersonate-service-account": "value",
    "--log-http": "bool", "--project": "value", "--quiet": "bool", "-q": "bool",
    "--trace-token": "value", "--user-output-enabled": "bool", "--verbosity": "value",
}
LIST = {"--filter": "value", "--limit": "value", "--page-size": "value",
        "--sort-by": "value", "--uri": "bool"}
IAM = {"--member": "value", "--role": "value", "--condition": "value",
       "--condition-from-file": "value"}
REF = "https://cloud.google.com/sdk/gcloud/reference/"

# The commands deploy.sh uses (and the run.services.add-iam-policy-binding
# the previous deploy.sh used), each with the flags its reference page lists
# (for sql instances create and artifacts repositories create, the subset a
# deployment like this one would use; each flag listed is on the page).
# name: (reference page, positional arguments (min, max), flags, required flags)
COMMANDS = {
    "config set": (REF + "config/set", (2, 2), {"--installation": "bool"}, []),
    "services enable": (REF + "services/enable", (1, 99), {"--async": "bool"}, []),
    "projects describe": (REF + "projects/describe", (1, 1), {}, []),
    "projects add-iam-policy-binding": (
        REF + "projects/add-iam-policy-binding", (1, 1), IAM, ["--member", "--role"]),
    "artifacts repositories describe": (
        REF + "artifacts/repositories/describe", (1, 1), {"--location": "value"}, []),
    "artifacts repositories create": (
        REF + "artifacts/repositories/create", (1, 1),
        {"--repository-format": "value", "--location": "value", "--description": "value",
         "--labels": "value", "--kms-key": "value", "--async": "bool",
         "--immutable-tags": "bool", "--mode": "value"}, ["--repository-format"]),
    "auth configure-docker": (
        REF + "auth/configure-docker", (0, 1), {"--include-artifact-registry": "bool"}, []),
    "iam service-accounts describe": (REF + "iam/service-accounts/describe", (1, 1), {}, []),
    "iam service-accounts create": (
        REF + "iam/service-accounts/create", (1, 1),
        {"--description": "value", "--display-name": "value"}, []),
    "sql instances describe": (REF + "sql/instances/describe", (1, 1), {}, []),
    "sql instances create": (
        REF + "sql/instances/create", (1, 1),
        {"--database-version": "value", "--edition": "value", "--tier": "value",
         "--region": "value", "--zone": "value", "--cpu": "value", "--memory": "value",
         "--async": "bool", "--availability-type": "value", "--root-password": "value",
         "--storage-size": "value", "--storage-type": "value", "--no-backup": "bool",
         "--backup-start-time": "value", "--database-flags": "value",
         "--deletion-protection": "bool", "--no-deletion-protection": "bool",
         "--enable-point-in-time-recovery": "bool", "--labels": "value"}, []),
    "sql instances delete": (REF + "sql/instances/delete", (1, 1), {"--async": "bool"}, []),
    "sql databases describe": (
        REF + "sql/databases/describe", (1, 1), {"--instance": "value", "-i": "value"},
        ["--instance"]),
    "sql databases create": (
        REF + "sql/databases/create", (1, 1),
        {"--instance": "value", "-i": "value", "--async": "bool", "--charset": "value",
         "--collation": "value"}, ["--instance"]),
    "sql users list": (
        REF + "sql/users/list", (0, 0), {"--instance": "value", "-i": "value", **LIST},
        ["--instance"]),
    "sql users create": (
        REF + "sql/users/create", (1, 1),
        {"--instance": "value", "-i": "value", "--async": "bool",
         "--database-roles": "value", "--host": "value", "--password": "value",
         "--type": "value"}, ["--instance"]),
    "sql users set-password": (
        REF + "sql/users/set-password", (1, 1),
        {"--instance": "value", "-i": "value", "--async": "bool", "--host": "value",
         "--discard-dual-password": "bool", "--retain-password": "bool",
         "--password": "value", "--prompt-for-password": "bool"}, ["--instance"]),
    "secrets describe": (REF + "secrets/describe", (1, 1), {"--location": "value"}, []),
    "secrets create": (
        REF + "secrets/create", (1, 1),
        {"--data-file": "value", "--labels": "value", "--location": "value",
         "--regional-kms-key-name": "value", "--set-annotations": "value",
         "--tags": "value", "--topics": "value", "--version-destroy-ttl": "value",
         "--expire-time": "value", "--ttl": "value", "--next-rotation-time": "value",
         "--rotation-period": "value", "--replication-policy-file": "value",
         "--kms-key-name": "value", "--locations": "value",
         "--replication-policy": "value"}, []),
    "secrets add-iam-policy-binding": (
        REF + "secrets/add-iam-policy-binding", (1, 1), {**IAM, "--location": "value"},
        ["--member", "--role"]),
    "secrets versions list": (
        REF + "secrets/versions/list", (1, 1), {"--location": "value", **LIST}, []),
    "secrets versions add": (
        REF + "secrets/versions/add", (1, 1), {"--data-file": "value", "--location": "value"},
        ["--data-file"]),
    "secrets versions describe": (
        REF + "secrets/versions/describe", (1, 1),
        {"--secret": "value", "--location": "value"}, ["--secret"]),
    "secrets versions access": (
        REF + "secrets/versions/access", (1, 1),
        {"--secret": "value", "--location": "value", "--out-file": "value"}, ["--secret"]),
    "run services replace": (
        REF + "run/services/replace", (1, 1),
        {"--async": "bool", "--dry-run": "bool", "--region": "value"}, []),
    "run services describe": (
        REF + "run/services/describe", (1, 1),
        {"--region": "value", "--namespace": "value"}, []),
    "run services add-iam-policy-binding": (
        REF + "run/services/add-iam-policy-binding", (1, 1),
        {**IAM, "--region": "value", "--namespace": "value"}, ["--member", "--role"]),
    # The Firestore database and its TTL policies: firestore_standin.py.
    **firestore_standin.COMMANDS,
}

# The API each command group needs enabled first.
APIS = {"artifacts": "artifactregistry.googleapis.com", "sql": "sqladmin.googleapis.com",
        "secrets": "secretmanager.googleapis.com", "run": "run.googleapis.com",
        "iam": "iam.googleapis.com", "firestore": "firestore.googleapis.com"}
# Each API's name in the SERVICE_DISABLED message.
API_TITLES = {"artifactregistry.googleapis.com": "Artifact Registry API",
              "sqladmin.googleapis.com": "Cloud SQL Admin API",
              "secretmanager.googleapis.com": "Secret Manager API",
              "run.googleapis.com": "Cloud Run Admin API",
              "iam.googleapis.com": "Identity and Access Management (IAM) API",
              "firestore.googleapis.com": "Cloud Firestore API"}


class Failure(Exception):
    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------- state

class State:
    def __init__(self):
        root = os.environ.get("GCLOUD_STANDIN_STATE")
        if not root:
            sys.exit("stand-in: GCLOUD_STANDIN_STATE is not set")
        self.root = root
        os.makedirs(root, exist_ok=True)
        self.lock = open(os.path.join(root, ".lock"), "w")
        fcntl.flock(self.lock, fcntl.LOCK_EX)
        path = os.path.join(root, "project.json")
        self.data = json.load(open(path)) if os.path.exists(path) else {}
        for key, empty in [("apis", []), ("repos", {}), ("images", {}), ("docker_auth", []),
                           ("accounts", {}), ("project_iam", []), ("secret_iam", {}),
                           ("secrets", {}), ("sql", {}), ("run_iam", {}), ("calls", 0),
                           ("injected", []), ("config", {})]:
            self.data.setdefault(key, empty)

    def save(self):
        fcntl.flock(self.lock, fcntl.LOCK_EX)
        path = os.path.join(self.root, "project.json")
        with open(path + ".tmp", "w") as f:
            json.dump(self.data, f, indent=1, sort_keys=True)
        os.replace(path + ".tmp", path)

    def unlock(self):
        fcntl.flock(self.lock, fcntl.LOCK_UN)

    @property
    def project(self):
        return self.data["config"].get("core/project", "")

    def log(self, tool, argv):
        shown, hide = [], False
        for arg in argv:
            if hide:
                shown.append("<redacted>")
                hide = False
            elif arg.startswith("--password=") or arg.startswith("--root-password="):
                shown.append(arg.split("=", 1)[0] + "=<redacted>")
            else:
                shown.append(arg)
                hide = arg in ("--password", "--root-password")
        self.data["calls"] += 1
        with open(os.path.join(self.root, "calls.log"), "a") as f:
            f.write(json.dumps({"tool": tool, "argv": shown}) + "\n")

    def secret_dir(self, name):
        # The emulator reads secret values from here (files named 1, 2, ...).
        return os.path.join(self.root, "secrets", name)


def injected(state, command, variable):
    """Whether GCLOUD_STANDIN_FAIL_AT/_AFTER names this call (first match only)."""
    for spec in filter(None, (s.strip() for s in os.environ.get(variable, "").split(";"))):
        key = variable + ":" + spec
        if command.startswith(spec) and key not in state.data["injected"]:
            state.data["injected"].append(key)
            return True
    return False


# ---------------------------------------------------------------- parsing

def parse(tool_argv):
    """Splits gcloud's argv into (command, positionals, flags) or raises.
    Each --flags-file is replaced by the flags it holds first, as gcloud
    does; a password on the command line itself is refused (see
    `refuse_password_in_argv`)."""
    refuse_password_in_argv(tool_argv)
    words, rest = [], expand_flags_files(tool_argv)
    names = {tuple(name.split()) for name in COMMANDS}
    while rest and not rest[0].startswith("-"):
        words.append(rest.pop(0))
        if tuple(words) in names:
            break
    command = " ".join(words)
    if command not in COMMANDS:
        raise Failure(f"ERROR: (gcloud) Invalid choice: '{command}'.\n"
                      "(the stand-in knows only the commands deploy.sh uses)", 2)
    _, (low, high), own, required = COMMANDS[command]
    known = {**WIDE, **own}
    positionals, flags, unknown = [], {}, []
    while rest:
        arg = rest.pop(0)
        if not arg.startswith("-") or arg == "-":
            positionals.append(arg)
            continue
        name, _, value = arg.partition("=")
        kind = known.get(name)
        if kind is None:
            unknown.append(arg)
            continue
        if kind == "bool":
            flags[name] = True
        elif "=" in arg:
            flags[name] = value
        elif rest:
            flags[name] = rest.pop(0)
        else:
            raise Failure(f"ERROR: (gcloud.{command.replace(' ', '.')}) argument {name}: "
                          "expected one argument", 2)
    dotted = "gcloud." + command.replace(" ", ".")
    if unknown:
        raise Failure(f"ERROR: ({dotted}) unrecognized arguments: {' '.join(unknown)}", 2)
    if "-i" in flags:
        flags["--instance"] = flags.pop("-i")
    if "-q" in flags:
        flags["--quiet"] = flags.pop("-q")
    for name in required:
        if name not in flags:
            raise Failure(f"ERROR: ({dotted}) argument {name}: Must be specified.", 2)
    if not low <= len(positionals) <= high:
        raise Failure(f"ERROR: ({dotted}) wrong number of arguments: {positionals}", 2)
    return command, positionals, flags


# Flags whose value is a password: never on the command line (below).
PASSWORD_FLAGS = ("--password", "--root-password")


def refuse_password_in_argv(argv):
    """The rehearsal's own rule, not gcloud's (gcloud takes --password): a
    password in a process's arguments is readable by every user of the
    machine (`ps`, /proc/PID/cmdline) while the call runs. deploy.sh passes
    it in a --flags-file instead."""
    for arg in argv:
        if arg in PASSWORD_FLAGS or arg.startswith(tuple(f + "=" for f in PASSWORD_FLAGS)):
            raise Failure(f"ERROR: (stand-in) {arg.split('=', 1)[0]} on the command line: every "
                          "process on this machine can read it (ps). Pass it in a --flags-file "
                          "(https://cloud.google.com/sdk/gcloud/reference/topic/flags-file).", 2)


def expand_flags_files(argv):
    """argv with each --flags-file=FILE (or `--flags-file FILE`) replaced by
    the flags the file holds, in place, so flags after it win, as
    `gcloud topic flags-file` describes. FILE `-` is standard input (gcloud
    528's calliope reads it so)."""
    out, rest = [], list(argv)
    while rest:
        arg = rest.pop(0)
        if arg == "--flags-file" and rest:
            out.extend(flags_file_args(rest.pop(0)))
        elif arg.startswith("--flags-file="):
            out.extend(flags_file_args(arg.split("=", 1)[1]))
        else:
            out.append(arg)
    return out


def flags_file_args(path, depth=0):
    if depth > 5:
        raise Failure("ERROR: (gcloud) --flags-file recursive reference.", 2)
    if path == "-":
        text = sys.stdin.read()
    elif not os.path.exists(path):
        raise Failure(f"ERROR: (gcloud) --flags-file [{path}] not found.", 2)
    else:
        with open(path) as f:
            text = f.read()
    if not text:
        raise Failure(f"ERROR: (gcloud) --flags-file [{path}] is empty.", 2)
    try:
        data = json.loads(text)
    except ValueError:
        data = yaml_flags(text, path)
    args = []
    for group in data if isinstance(data, list) else [data]:
        if not isinstance(group, dict):
            raise Failure(f"ERROR: (gcloud) {path}: --flags-file file must contain a dictionary "
                          "or list of dictionaries of flags.", 2)
        for name, value in group.items():
            if name == "--flags-file":
                for inner in value if isinstance(value, list) else [value]:
                    args.extend(flags_file_args(inner, depth + 1))
            elif value is None or isinstance(value, bool):
                args.append(name)
            elif isinstance(value, (list, dict)):
                raise Failure(f"ERROR: (stand-in) {path}: list and dict flag values are not "
                              "supported here", 2)
            else:
                # gcloud formats the value YAML gave it: an unquoted 1e5 is
                # the float 100000.0, and so is the flag's value.
                args.append(f"{name}={value}")
    return args


def yaml_flags(text, path):
    """The YAML a flags file of deploy.sh's uses: `--flag: value` lines, the
    value plain, "double-" or 'single-quoted', read with YAML 1.2's core
    schema as gcloud's ruamel.yaml reads it (a plain 123 is a number)."""
    flags = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = re.fullmatch(r"\s*([^\s:#]+):(?:\s+(.*?))?\s*", line)
        if not match:
            raise Failure(f"ERROR: (stand-in) {path}: only `--flag: value` lines are "
                          f"supported here: {line!r}", 2)
        name, raw = match.group(1), match.group(2) or ""
        if raw.startswith('"'):
            value = json.loads(raw)
        elif raw.startswith("'"):
            value = raw[1:-1].replace("''", "'")
        elif raw in ("", "~", "null", "Null", "NULL"):
            value = None
        elif raw in ("true", "True", "TRUE", "false", "False", "FALSE"):
            value = raw.lower() == "true"
        elif re.fullmatch(r"[-+]?[0-9]+", raw):
            value = int(raw)
        elif re.fullmatch(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?", raw):
            value = float(raw)
        else:
            value = raw
        flags[name] = value
    return flags


def render(resources, fmt):
    """The few --format forms deploy.sh uses: value(a.b), value(a.basename())."""
    if fmt is None or fmt in ("json",):
        return json.dumps(resources if isinstance(resources, list) else resources, indent=2)
    match = re.fullmatch(r"value\(([\w.]+?)(\.basename\(\))?\)", fmt)
    if not match:
        raise Failure(f"ERROR: (stand-in) --format {fmt!r} is not supported here", 2)
    items = resources if isinstance(resources, list) else [resources]
    lines = []
    for item in items:
        value = item
        for part in match.group(1).split("."):
            value = value.get(part, "") if isinstance(value, dict) else ""
        value = str(value)
        if match.group(2):
            value = value.rsplit("/", 1)[-1]
        lines.append(value)
    return "\n".join(lines)


# ---------------------------------------------------------------- commands

def need_api(state, command, dotted):
    """An API that is not enabled answers 403 PERMISSION_DENIED with reason
    SERVICE_DISABLED (`iam service-accounts create` calls the IAM API,
    iam.googleapis.com, which "Before you begin" of
    https://cloud.google.com/iam/docs/service-accounts-create says to
    enable; gcloud 528 prints the error's ErrorInfo as below)."""
    api = APIS.get(command.split()[0])
    if api and api not in state.data["apis"]:
        raise Failure(f"ERROR: ({dotted}) PERMISSION_DENIED: {API_TITLES.get(api, api)} has not "
                      f"been used in project {PROJECT_NUMBER} before or it is disabled. Enable "
                      f"it by visiting https://console.developers.google.com/apis/api/{api}/"
                      f"overview?project={PROJECT_NUMBER} then retry.\n"
                      "- '@type': type.googleapis.com/google.rpc.ErrorInfo\n"
                      "  domain: googleapis.com\n"
                      f"  metadata:\n    consumer: projects/{PROJECT_NUMBER}\n"
                      f"    service: {api}\n"
                      "  reason: SERVICE_DISABLED")


def account_usable(state, email, dotted):
    """A new service account is refused in bindings for a few calls (IAM
    propagation), as the real IAM does for up to minutes."""
    account = state.data["accounts"].get(email)
    delay = int(os.environ.get("GCLOUD_STANDIN_IAM_DELAY", "5"))
    if account is None or state.data["calls"] - account["created_at_call"] <= delay:
        raise Failure(f"ERROR: ({dotted}) INVALID_ARGUMENT: Service account {email} "
                      "does not exist.")


def parse_condition(flags, dotted):
    """--condition as gcloud reads it: `None`, or key=value pairs of which
    `expression` and `title` are required; a condition on a basic role is
    refused (iam_util.ValidateConditionArgument and
    ValidateMutexConditionAndPrimitiveRoles in gcloud 528). Returns "absent",
    "None" or the condition as a dict."""
    if "--condition" not in flags:
        return "absent"
    raw = flags["--condition"]
    if raw == "None":
        return "None"
    condition = dict(part.split("=", 1) for part in raw.split(",") if "=" in part)
    if not condition.get("expression") or not condition.get("title") or \
            set(condition) - {"expression", "title", "description"}:
        raise Failure(f"ERROR: ({dotted}) Invalid value for [condition]: condition must be "
                      "either `None` or a list of key=value pairs. If not `None`, `expression` "
                      "and `title` are required keys.\nExample: --condition=expression="
                      "[expression],title=[title],description=[description]")
    if flags["--role"] in ("roles/editor", "roles/owner", "roles/viewer"):
        raise Failure(f"ERROR: ({dotted}) Binding with a condition and a basic role is not "
                      "allowed. Basic roles are `roles/editor`, `roles/owner`, and "
                      "`roles/viewer`.")
    return condition


def bind(state, bindings, flags, dotted):
    """add-iam-policy-binding on one policy: `bindings` holds [member, role]
    and, for a conditional binding, [member, role, condition]."""
    member, role = flags["--member"], flags["--role"]
    condition = parse_condition(flags, dotted)
    # gcloud reads the policy first, and refuses to add a binding without
    # --condition to a policy that holds a conditional one unless it can
    # prompt (never under --quiet, nor without a terminal): checked with
    # gcloud 528 (iam_util.AddBindingToIamPolicyWithCondition).
    if condition == "absent" and any(len(b) > 2 for b in bindings):
        raise Failure(f"ERROR: ({dotted}) Adding a binding without specifying a condition to a "
                      "policy containing conditions is prohibited in non-interactive mode. Run "
                      "the command again with `--condition=None`")
    if member.startswith("serviceAccount:"):
        account_usable(state, member.split(":", 1)[1], dotted)
    if member in ("allUsers", "allAuthenticatedUsers") and \
            os.environ.get("GCLOUD_STANDIN_DOMAIN_RESTRICTED") == "1":
        raise Failure(f"ERROR: ({dotted}) FAILED_PRECONDITION: One or more users named in "
                      "the policy do not belong to a permitted customer, perhaps due to an "
                      "organization policy.")
    binding = [member, role] + ([condition] if isinstance(condition, dict) else [])
    if binding not in bindings:
        bindings.append(binding)
    print("Updated IAM policy.", file=sys.stderr)


def secret_versions(state, name):
    directory = state.secret_dir(name)
    if not os.path.isdir(directory):
        return []
    return sorted(int(v) for v in os.listdir(directory) if v.isdigit())


def secret_name(state, name, version=None):
    base = f"projects/{PROJECT_NUMBER}/secrets/{name}"
    return base if version is None else f"{base}/versions/{version}"


def read_data_file(path):
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as f:
        return f.read()


def gcloud(state, argv):
    command, args, flags = parse(argv)
    dotted = "gcloud." + command.replace(" ", ".")
    if injected(state, command, "GCLOUD_STANDIN_FAIL_AT"):
        raise Failure(f"ERROR: ({dotted}) UNAVAILABLE: injected failure "
                      "(GCLOUD_STANDIN_FAIL_AT)")
    if any(command.startswith(spec.strip()) for spec in
           os.environ.get("GCLOUD_STANDIN_DENIED", "").split(";") if spec.strip()):
        # As gcloud prints a 403 on the call (the deployer lacks the
        # permission), every time: nothing changes by waiting.
        raise Failure(f"ERROR: ({dotted}) [deployer@example.com] does not have permission to "
                      f"access projects instance [{state.project}] (or it may not exist): "
                      "The caller does not have permission")
    if command != "config set" and not state.project and "--project" not in flags:
        raise Failure(f"ERROR: ({dotted}) The required property [project] is not currently "
                      "set.")
    need_api(state, command, dotted)
    project = flags.get("--project", state.project)
    data = state.data
    out = None

    if command == "config set":
        key = args[0] if "/" in args[0] else "core/" + args[0]
        data["config"][key] = args[1]
        print(f"Updated property [{args[0]}].", file=sys.stderr)
    elif command == "services enable":
        for api in args:
            if api not in data["apis"]:
                data["apis"].append(api)
        print("Operation finished successfully.", file=sys.stderr)
    elif command == "projects describe":
        out = {"projectId": project, "projectNumber": PROJECT_NUMBER}
    elif command == "projects add-iam-policy-binding":
        bind(state, data["project_iam"], flags, dotted)
    elif command == "artifacts repositories describe":
        repo = data["repos"].get(f"{flags.get('--location')}/{args[0]}")
        if repo is None:
            raise Failure(f"ERROR: ({dotted}) NOT_FOUND: Requested entity was not found.")
        out = repo
    elif command == "artifacts repositories create":
        key = f"{flags.get('--location')}/{args[0]}"
        if key in data["repos"]:
            raise Failure(f"ERROR: ({dotted}) ALREADY_EXISTS: the repository already exists")
        data["repos"][key] = {"name": f"projects/{project}/locations/{key.replace('/', '/repositories/')}",
                              "format": flags["--repository-format"].upper()}
    elif command == "auth configure-docker":
        for registry in (args[0].split(",") if args else ["gcr.io"]):
            if registry not in data["docker_auth"]:
                data["docker_auth"].append(registry)
    elif command == "iam service-accounts describe":
        account = data["accounts"].get(args[0])
        if account is None:
            raise Failure(f"ERROR: ({dotted}) NOT_FOUND: Unknown service account")
        out = {"email": args[0]}
    elif command == "iam service-accounts create":
        email = f"{args[0]}@{project}.iam.gserviceaccount.com"
        if email in data["accounts"]:
            raise Failure(f"ERROR: ({dotted}) Resource in projects [{project}] is the subject "
                          f"of a conflict: Service account {args[0]} already exists within "
                          f"project projects/{project}.")
        data["accounts"][email] = {"created_at_call": data["calls"]}
        print(f"Created service account [{args[0]}].", file=sys.stderr)
    elif command.startswith("sql "):
        out = sql(state, command, args, flags, dotted, project)
    elif command.startswith("secrets "):
        out = secrets(state, command, args, flags, dotted)
    elif command.startswith("run "):
        out = run(state, command, args, flags, dotted, project)
    elif command.startswith("firestore "):
        out = firestore_standin.firestore(state, command, args, flags, dotted, project, Failure)

    if injected(state, command, "GCLOUD_STANDIN_FAIL_AFTER"):
        state.save()
        raise Failure(f"ERROR: ({dotted}) DEADLINE_EXCEEDED: injected failure after the "
                      "change was made (GCLOUD_STANDIN_FAIL_AFTER)")
    if out is not None:
        print(render(out, flags.get("--format")))


def sql(state, command, args, flags, dotted, project):
    instances = state.data["sql"]
    if command == "sql instances create":
        if args[0] in instances:
            raise Failure(f"ERROR: ({dotted}) Resource in projects [{project}] is the subject "
                          "of a conflict: The Cloud SQL instance already exists.")
        tier = flags.get("--tier", "db-custom-1-3840")
        if tier in ("db-f1-micro", "db-g1-small") and flags.get("--edition", "") not in \
                ("enterprise", "ENTERPRISE"):
            # Shared-core tiers exist only in the Enterprise edition.
            raise Failure(f"ERROR: ({dotted}) Invalid request: Invalid Tier ({tier}) for "
                          "(ENTERPRISE_PLUS) Edition.")
        region = flags.get("--region", "us-central1")
        instances[args[0]] = {"tier": tier, "region": region, "databases": [], "users": {},
                              "connectionName": f"{project}:{region}:{args[0]}"}
        try:
            postgres_start(state, args[0])
        except Failure:
            # Not created: a rerun once PostgreSQL is installed creates it.
            del instances[args[0]]
            raise
        print(f"Created [{args[0]}].", file=sys.stderr)
        return None
    instance = instances.get(flags.get("--instance", args[0] if args else ""))
    if command == "sql instances describe":
        if instance is None:
            raise Failure(f"ERROR: ({dotted}) HTTPError 404: The Cloud SQL instance does not "
                          "exist.")
        return instance
    if instance is None:
        raise Failure(f"ERROR: ({dotted}) HTTPError 404: The Cloud SQL instance does not exist.")
    if command == "sql instances delete":
        postgres_stop(state, args[0])
        del instances[args[0]]
    elif command == "sql databases describe":
        if args[0] not in instance["databases"]:
            raise Failure(f"ERROR: ({dotted}) HTTPError 404: Not Found")
        return {"name": args[0], "instance": flags["--instance"]}
    elif command == "sql databases create":
        if args[0] in instance["databases"]:
            raise Failure(f"ERROR: ({dotted}) HTTPError 409: Database {args[0]} already "
                          "exists.")
        postgres_sql(state, flags["--instance"],
                     f'CREATE DATABASE "{args[0]}" OWNER cloudsqlsuperuser')
        instance["databases"].append(args[0])
    elif command == "sql users list":
        return [{"name": name} for name in sorted(instance["users"])]
    elif command == "sql users create":
        if args[0] in instance["users"]:
            raise Failure(f"ERROR: ({dotted}) HTTPError 409: User {args[0]} already exists.")
        password = flags.get("--password", "")
        postgres_sql(state, flags["--instance"],
                     f"CREATE ROLE \"{args[0]}\" LOGIN PASSWORD {quote(password)} "
                     "IN ROLE cloudsqlsuperuser")
        instance["users"][args[0]] = hashlib.sha256(password.encode()).hexdigest()
    elif command == "sql users set-password":
        if args[0] not in instance["users"]:
            raise Failure(f"ERROR: ({dotted}) HTTPError 404: User {args[0]} does not exist.")
        if "--password" in flags and "--prompt-for-password" in flags:
            raise Failure(f"ERROR: ({dotted}) argument --password: At most one of --password | "
                          "--prompt-for-password can be specified.", 2)
        password = flags.get("--password", "")
        if "--prompt-for-password" in flags:
            # gcloud 528 asks getpass, which reads the terminal if there is
            # one and standard input only without; under --quiet it asks
            # nothing and sends no password at all (checked against a local
            # listener). deploy.sh uses --flags-file instead.
            if "--quiet" in flags:
                raise Failure(f"ERROR: (stand-in) {dotted}: --prompt-for-password under --quiet "
                              "sends no password (gcloud asks nothing)")
            password = sys.stdin.readline().rstrip("\n")
        postgres_sql(state, flags["--instance"],
                     f"ALTER ROLE \"{args[0]}\" PASSWORD {quote(password)}")
        instance["users"][args[0]] = hashlib.sha256(password.encode()).hexdigest()
    return None


def secrets(state, command, args, flags, dotted):
    data = state.data
    name = flags.get("--secret", args[0])
    exists = name in data["secrets"]
    if command == "secrets create":
        if exists:
            raise Failure(f"ERROR: ({dotted}) Resource in projects [{state.project}] is the "
                          f"subject of a conflict: Secret [{secret_name(state, name)}] already "
                          "exists.")
        policy = flags.get("--replication-policy", "automatic")
        if policy not in ("automatic", "user-managed"):
            raise Failure(f"ERROR: ({dotted}) argument --replication-policy: Invalid choice: "
                          f"'{policy}'.", 2)
        data["secrets"][name] = {"replication": policy}
        os.makedirs(state.secret_dir(name), exist_ok=True)
        if "--data-file" in flags:
            add_version(state, name, read_data_file(flags["--data-file"]))
        print(f"Created secret [{name}].", file=sys.stderr)
        return None
    if not exists:
        raise Failure(f"ERROR: ({dotted}) NOT_FOUND: Secret [{secret_name(state, name)}] not "
                      "found or has no versions.")
    versions = secret_versions(state, name)
    if command == "secrets describe":
        return {"name": secret_name(state, name)}
    if command == "secrets add-iam-policy-binding":
        bind(state, data["secret_iam"].setdefault(name, []), flags, dotted)
    elif command == "secrets versions list":
        listed = [{"name": secret_name(state, name, v), "state": "ENABLED"}
                  for v in reversed(versions)]
        if "--limit" in flags:
            listed = listed[:int(flags["--limit"])]
        return listed
    elif command == "secrets versions add":
        payload = read_data_file(flags["--data-file"])
        if not payload:
            raise Failure(f"ERROR: ({dotted}) INVALID_ARGUMENT: Secret Payload cannot be "
                          "empty.")
        version = add_version(state, name, payload)
        print(f"Created version [{version}] of the secret [{name}].", file=sys.stderr)
    elif command in ("secrets versions describe", "secrets versions access"):
        wanted = args[0]
        version = versions[-1] if wanted == "latest" and versions else \
            int(wanted) if wanted.isdigit() and int(wanted) in versions else None
        if version is None:
            raise Failure(f"ERROR: ({dotted}) NOT_FOUND: Secret Version "
                          f"[{secret_name(state, name, wanted)}] not found.")
        if command == "secrets versions describe":
            return {"name": secret_name(state, name, version), "state": "ENABLED"}
        with open(os.path.join(state.secret_dir(name), str(version)), "rb") as f:
            sys.stdout.buffer.write(f.read())
    return None


def add_version(state, name, payload):
    versions = secret_versions(state, name)
    version = (versions[-1] if versions else 0) + 1
    with open(os.path.join(state.secret_dir(name), str(version)), "wb") as f:
        f.write(payload)
    return version


# ---------------------------------------------------------------- Cloud Run

def yaml_facts(text):
    """What Cloud Run checks before creating a revision, read from the YAML
    without a YAML library: the name, the service account, the images (one
    per container: the ingress container and its sidecars), the secret
    references, the Cloud SQL instances."""
    facts = {"secrets": []}
    match = re.search(r"^metadata:\n(?:  .*\n)*?  name: *(\S+)", text, re.M)
    facts["name"] = match.group(1).strip("'\"") if match else None
    match = re.search(r"^\s+serviceAccountName: *(\S+)", text, re.M)
    facts["account"] = match.group(1).strip("'\"") if match else None
    facts["images"] = [m.strip("'\"") for m in
                       re.findall(r"^\s+(?:- )?image: *(\S+)", text, re.M)]
    for ref in re.finditer(r"secretKeyRef:\n\s+name: *(\S+)\n\s+key: *(\S+)", text):
        facts["secrets"].append((ref.group(1).strip("'\""), ref.group(2).strip("'\"")))
    match = re.search(r"run.googleapis.com/cloudsql-instances: *(\S+)", text)
    facts["cloudsql"] = match.group(1).strip("'\"").split(",") if match else []
    return facts


def emulator(method, path, body=None):
    base = os.environ.get("CLOUD_RUN_EMULATOR")
    if not base:
        raise Failure("ERROR: (stand-in) CLOUD_RUN_EMULATOR is not set")
    request = urllib.request.Request(base.rstrip("/") + path, data=body, method=method,
                                     headers={"Content-Type": "application/yaml"})
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"{}")
        except ValueError:
            return e.code, {"error": f"HTTP {e.code}"}


def run(state, command, args, flags, dotted, project):
    data = state.data
    region = flags.get("--region") or data["config"].get("run/region")
    if not region:
        raise Failure(f"ERROR: ({dotted}) Missing required argument [--region]: You must "
                      "specify a region. Either use the `--region` flag or set the "
                      "run/region property.")
    if command == "run services add-iam-policy-binding":
        bind(state, data["run_iam"].setdefault(args[0], []), flags, dotted)
        return None
    if command == "run services describe":
        state.unlock()
        status, body = emulator("GET", f"/v1/services/{args[0]}")
        if status == 404:
            raise Failure(f"ERROR: ({dotted}) Cannot find service [{args[0]}]")
        if status != 200:
            raise Failure(f"ERROR: ({dotted}) {body.get('error', status)}")
        return {"metadata": {"name": args[0]},
                "status": {"url": body.get("url", ""),
                           "latestReadyRevisionName": body.get("revision", ""),
                           "ready": body.get("ready")}}
    # run services replace
    with open(args[0], "rb") as f:
        body = f.read()
    facts = yaml_facts(body.decode())
    if not facts["name"]:
        raise Failure(f"ERROR: ({dotted}) metadata.name: a service name is required")
    problems = []
    for image in facts["images"] or [""]:
        if image not in data["images"]:
            problems.append(f"Image '{image}' not found.")
    account = facts["account"] or f"{PROJECT_NUMBER}-compute@developer.gserviceaccount.com"
    if facts["account"] and account not in data["accounts"]:
        problems.append(f"Service account {account} does not exist.")
    for name, version in facts["secrets"]:
        versions = secret_versions(state, name)
        found = versions and (version == "latest" or
                              (version.isdigit() and int(version) in versions))
        if not found:
            problems.append(f"Secret {secret_name(state, name, version)} was not found")
        elif ["serviceAccount:" + account, "roles/secretmanager.secretAccessor"] not in \
                data["secret_iam"].get(name, []):
            problems.append(f"Permission denied on secret: {secret_name(state, name, version)}"
                            f" for Revision service account {account}. The service account "
                            "used must be granted the 'Secret Manager Secret Accessor' role "
                            "(roles/secretmanager.secretAccessor) at the secret, project or "
                            "higher level.")
    for connection in filter(None, facts["cloudsql"]):
        known = [i["connectionName"] for i in data["sql"].values()]
        if connection not in known:
            problems.append(f"Cloud SQL instance {connection} does not exist.")
    if problems:
        raise Failure(f"ERROR: ({dotted}) " + "\n".join(problems))
    if "--dry-run" in flags:
        return None
    print(f"Applying new configuration to Cloud Run service [{facts['name']}] in project "
          f"[{project}] region [{region}]", file=sys.stderr)
    state.save()
    state.unlock()  # the emulator waits for the startup probe: others may run meanwhile
    status, answer = emulator("PUT", f"/v1/services/{facts['name']}", body)
    if status != 200:
        raise Failure(f"ERROR: ({dotted}) {answer.get('error', f'HTTP {status}')}")
    print(f"New configuration has been applied to service [{facts['name']}].\n"
          f"URL: {answer.get('url')}", file=sys.stderr)
    return None


# ---------------------------------------------------------------- PostgreSQL

def quote(text):
    return "'" + text.replace("'", "''") + "'"


def postgres_bin(name):
    """A PostgreSQL program: the newest server's under /usr/lib/postgresql,
    else on PATH, else a Failure that names what is missing."""
    root = os.environ.get("GCLOUD_STANDIN_POSTGRES_DIR", "/usr/lib/postgresql")
    try:
        versions = sorted(os.listdir(root),
                          key=lambda v: int(v) if v.isdigit() else 0, reverse=True)
    except OSError:
        versions = []
    for version in versions:
        path = os.path.join(root, version, "bin", name)
        if os.path.exists(path):
            return path
    found = shutil.which(name)
    if found:
        return found
    raise Failure(f"ERROR: (stand-in) the Cloud SQL stand-in runs a real PostgreSQL, but "
                  f"`{name}` is neither in {root}/*/bin nor on PATH. Install "
                  f"PostgreSQL's server and client (Debian: apt-get install postgresql), or set "
                  f"GCLOUD_STANDIN_POSTGRES=0 to keep Cloud SQL as recorded state only.")


def as_postgres(argv, **kwargs):
    """initdb and pg_ctl refuse to run as root: run them as the postgres user."""
    if os.getuid() == 0:
        argv = ["runuser", "-u", "postgres", "--"] + argv
    return subprocess.run(argv, check=True, capture_output=True, **kwargs)


def postgres_paths(state, instance):
    connection = state.data["sql"][instance]["connectionName"]
    return (os.path.join(state.root, "sql", instance),
            os.path.join(state.root, "cloudsql", connection))


def postgres_enabled():
    return os.environ.get("GCLOUD_STANDIN_POSTGRES", "1") != "0"


def postgres_start(state, instance):
    if not postgres_enabled():
        return
    home, sockets = postgres_paths(state, instance)
    os.chmod(state.root, 0o755)
    for directory in (os.path.dirname(home), os.path.dirname(sockets), home, sockets):
        os.makedirs(directory, exist_ok=True)
        os.chmod(directory, 0o755)
    password = random.token_hex(16)
    state.data["sql"][instance]["superuser_password"] = password
    pwfile = os.path.join(home, "pwfile")
    with open(pwfile, "w") as f:
        f.write(password + "\n")
    if os.getuid() == 0:
        shutil.chown(home, "postgres")
        shutil.chown(sockets, "postgres")
        shutil.chown(pwfile, "postgres")
    try:
        as_postgres([postgres_bin("initdb"), "-D", os.path.join(home, "data"), "-U", "postgres",
                     "--pwfile", pwfile, "--auth-local=scram-sha-256", "--auth-host=reject"])
        # Only a Unix socket, in the directory Cloud Run mounts at /cloudsql/CONNECTION.
        as_postgres([postgres_bin("pg_ctl"), "-D", os.path.join(home, "data"), "-w",
                     "-l", os.path.join(home, "log"), "-o",
                     f"-c listen_addresses='' -k {sockets} -c unix_socket_permissions=0777",
                     "start"])
    except subprocess.CalledProcessError as e:
        raise Failure(f"ERROR: (stand-in) PostgreSQL did not start: {e.stderr.decode()}")
    except OSError as e:
        raise Failure(f"ERROR: (stand-in) PostgreSQL could not be run ({e.filename}: "
                      f"{e.strerror}); install it (Debian: apt-get install postgresql)")
    postgres_sql(state, instance, "CREATE ROLE cloudsqlsuperuser NOLOGIN CREATEROLE CREATEDB")


def postgres_stop(state, instance):
    if not postgres_enabled():
        return
    home, _ = postgres_paths(state, instance)
    subprocess.run((["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []) +
                   [postgres_bin("pg_ctl"), "-D", os.path.join(home, "data"), "-m", "fast",
                    "-w", "stop"], capture_output=True)


def postgres_sql(state, instance, statement):
    if not postgres_enabled():
        return
    _, sockets = postgres_paths(state, instance)
    env = {**os.environ, "PGPASSWORD": state.data["sql"][instance]["superuser_password"]}
    result = subprocess.run([postgres_bin("psql"), "-h", sockets, "-U", "postgres", "-d",
                             "postgres", "-v", "ON_ERROR_STOP=1", "-qc", statement],
                            env=env, capture_output=True)
    if result.returncode != 0:
        raise Failure(f"ERROR: (stand-in) PostgreSQL: {result.stderr.decode().strip()}")


# ---------------------------------------------------------------- docker

def docker(state, argv):
    """docker build -f F --target T -t TAG . / docker push TAG: records what
    was built and pushed (the image is not built here; the emulator maps an
    image name to a binary). Flags: https://docs.docker.com/reference/cli/docker/buildx/build/
    and https://docs.docker.com/reference/cli/docker/image/push/ (a subset)."""
    if not argv:
        raise Failure("docker: a command is required", 1)
    command, rest = argv[0], argv[1:]
    known = {"build": {"-f": "value", "--file": "value", "--target": "value", "-t": "value",
                       "--tag": "value", "--build-arg": "value", "--platform": "value",
                       "--pull": "bool", "--no-cache": "bool", "-q": "bool", "--quiet": "bool"},
             "push": {"-a": "bool", "--all-tags": "bool", "--disable-content-trust": "bool",
                      "--platform": "value", "-q": "bool", "--quiet": "bool"}}
    if command not in known:
        raise Failure(f"docker: '{command}' is not a docker command the stand-in knows", 1)
    flags, positionals = {}, []
    while rest:
        arg = rest.pop(0)
        if not arg.startswith("-") or arg == "-":
            positionals.append(arg)
            continue
        name, eq, value = arg.partition("=")
        kind = known[command].get(name)
        if kind is None:
            raise Failure(f"unknown flag: {name}\nSee 'docker {command} --help'.", 125)
        flags[name] = True if kind == "bool" else (value if eq else rest.pop(0))
    data = state.data
    if command == "build":
        tag = flags.get("-t", flags.get("--tag"))
        if len(positionals) != 1 or not tag:
            raise Failure("docker build: a context and -t are required here", 1)
        data.setdefault("built", {})[tag] = flags.get("--target", "")
        print(f"naming to {tag} done", file=sys.stderr)
        return
    tag = positionals[0] if positionals else ""
    if tag not in data.get("built", {}):
        raise Failure(f"An image does not exist locally with the tag: {tag}", 1)
    registry, _, path = tag.partition("/")
    parts = path.split("/")
    if registry not in data["docker_auth"]:
        raise Failure("denied: Unauthenticated request. Unauthenticated requests do not have "
                      "permission \"artifactregistry.repositories.uploadArtifacts\"", 1)
    location = registry.split("-docker.pkg.dev")[0]
    if len(parts) < 3 or f"{location}/{parts[1]}" not in data["repos"]:
        raise Failure(f"name unknown: Repository \"{parts[1] if len(parts) > 1 else ''}\" "
                      "not found", 1)
    data["images"][tag] = data["built"][tag]
    print(f"{tag.rsplit(':', 1)[-1]}: digest: sha256:{hashlib.sha256(tag.encode()).hexdigest()}"
          " size: 1234", file=sys.stderr)


def main():
    tool, argv = sys.argv[1], sys.argv[2:]
    state = State()
    state.log(tool, argv)
    try:
        if tool == "docker":
            docker(state, argv)
        else:
            gcloud(state, argv)
    except Failure as failure:
        print(str(failure), file=sys.stderr)
        state.save()
        sys.exit(failure.code)
    state.save()


if __name__ == "__main__":
    main()
