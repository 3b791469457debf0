"""Firestore for the stand-in `gcloud` (standin.py): the commands
deploy/deploy.sh uses to create the public service's database and its TTL
policies, with the flags gcloud 528 takes for them, kept in the project's
state under "firestore". Each refusal is one the real CLI or the Firestore
Admin API makes: an unknown flag (standin.parse), a missing required flag or
group, a choice gcloud does not offer, a database that exists already, an
invalid database ID or location, a second TTL field in a collection group.

The database itself is not emulated here: the rehearsal runs Google's
Firestore emulator (`gcloud emulators firestore start`,
https://cloud.google.com/firestore/docs/emulator) and gives the deployed
services FIRESTORE_EMULATOR_HOST.
"""

import re

REF = "https://cloud.google.com/sdk/gcloud/reference/"

# Flags as gcloud 528 defines them (lib/surface/firestore/databases/create.py,
# fields/ttls/update.yaml and list.yaml; the reference pages below).
COMMANDS = {
    "firestore databases create": (
        REF + "firestore/databases/create", (0, 0),
        {"--location": "value", "--database": "value", "--type": "value",
         "--edition": "value", "--delete-protection": "bool", "--enable-pitr": "bool",
         "--kms-key-name": "value"}, ["--location"]),
    "firestore databases describe": (
        REF + "firestore/databases/describe", (0, 0), {"--database": "value"}, []),
    "firestore fields ttls update": (
        REF + "firestore/fields/ttls/update", (1, 1),
        {"--collection-group": "value", "--database": "value", "--enable-ttl": "bool",
         "--disable-ttl": "bool", "--async": "bool"}, []),
    "firestore fields ttls list": (
        REF + "firestore/fields/ttls/list", (0, 0),
        {"--collection-group": "value", "--database": "value", "--filter": "value",
         "--limit": "value", "--page-size": "value", "--sort-by": "value", "--uri": "bool"},
        []),
}

CHOICES = {"--type": ["datastore-mode", "firestore-native"],
           "--edition": ["enterprise", "standard"]}

# Firestore's locations (https://cloud.google.com/firestore/docs/locations):
# the multi-regions and the regions a database may be created in.
LOCATIONS = {
    "nam5", "nam7", "eur3",
    "africa-south1", "asia-east1", "asia-east2", "asia-northeast1", "asia-northeast2",
    "asia-northeast3", "asia-south1", "asia-south2", "asia-southeast1", "asia-southeast2",
    "australia-southeast1", "australia-southeast2", "europe-central2", "europe-north1",
    "europe-southwest1", "europe-west1", "europe-west2", "europe-west3", "europe-west4",
    "europe-west6", "europe-west8", "europe-west9", "europe-west10", "europe-west12",
    "me-central1", "me-central2", "me-west1", "northamerica-northeast1",
    "northamerica-northeast2", "northamerica-south1", "southamerica-east1",
    "southamerica-west1", "us-central1", "us-east1", "us-east4", "us-east5", "us-south1",
    "us-west1", "us-west2", "us-west3", "us-west4",
}

# The database ID rule of `--database` (gcloud's help, from the API): 4-63
# characters of a-z, 0-9 and '-', a letter first, a letter or digit last,
# not UUID-like; or "(default)".
DATABASE_ID = re.compile(r"[a-z][a-z0-9-]{2,61}[a-z0-9]")
UUID_LIKE = re.compile(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}")


def valid_database_id(database):
    return database == "(default)" or (
        DATABASE_ID.fullmatch(database) is not None and not UUID_LIKE.fullmatch(database))


def firestore(state, command, args, flags, dotted, project, failure):
    """Runs one `gcloud firestore …` command on state.data["firestore"]
    ({database id: {"type", "location", "ttl": {collection group: field}}}).
    Returns what gcloud would print (or None); raises `failure(message,
    code)` as gcloud fails."""
    databases = state.data.setdefault("firestore", {})
    for flag, choices in CHOICES.items():
        if flag in flags and flags[flag] not in choices:
            raise failure(f"ERROR: ({dotted}) argument {flag}: Invalid choice: "
                          f"'{flags[flag]}'.", 2)
    database = flags.get("--database", "(default)")
    name = f"projects/{project}/databases/{database}"
    if command == "firestore databases create":
        return create(databases, flags, dotted, name, database, failure, project)
    if not valid_database_id(database):
        raise failure(f"ERROR: ({dotted}) INVALID_ARGUMENT: Invalid database id: "
                      f"{database}.")
    if database not in databases:
        raise failure(f"ERROR: ({dotted}) NOT_FOUND: The database {database} does not exist "
                      f"for project {project}")
    db = databases[database]
    if command == "firestore databases describe":
        return {"name": name, "type": db["type"], "locationId": db["location"],
                "databaseEdition": db["edition"], "concurrencyMode": "PESSIMISTIC"}
    if command == "firestore fields ttls list":
        group = flags.get("--collection-group")
        return [{"name": f"{name}/collectionGroups/{g}/fields/{f}",
                 "ttlConfig": {"state": "ACTIVE"}}
                for g, f in sorted(db["ttl"].items()) if group in (None, g)]
    return ttl_update(db, args[0], flags, dotted, name, failure)


def create(databases, flags, dotted, name, database, failure, project):
    location = flags["--location"]
    if not valid_database_id(database):
        raise failure(f"ERROR: ({dotted}) INVALID_ARGUMENT: Database ID '{database}' is not "
                      "valid. It must be 4-63 characters of lowercase letters, numbers and "
                      "hyphens, start with a letter and end with a letter or a number, and "
                      "not be UUID-like; or \"(default)\".")
    if location not in LOCATIONS:
        raise failure(f"ERROR: ({dotted}) INVALID_ARGUMENT: Invalid locationId: {location}. "
                      "See https://cloud.google.com/firestore/docs/locations")
    if database in databases:
        # gcloud 528 words the API's 409 so (checked against a local listener).
        raise failure(f"ERROR: ({dotted}) Resource in projects [{project}] is the subject of a "
                      "conflict: Database already exists. Please use another database_id")
    kind = "DATASTORE_MODE" if flags.get("--type") == "datastore-mode" else "FIRESTORE_NATIVE"
    databases[database] = {"type": kind, "location": location,
                           "edition": flags.get("--edition", "standard").upper(), "ttl": {}}
    # gcloud prints the create call's operation, done at once here.
    return {"done": True, "response": {"@type": "type.googleapis.com/"
                                       "google.firestore.admin.v1.Database",
                                       "name": name, "type": kind, "locationId": location}}


def ttl_update(db, field, flags, dotted, name, failure):
    enable, disable = "--enable-ttl" in flags, "--disable-ttl" in flags
    if enable == disable:
        which = "argument --disable-ttl: " if enable else ""
        raise failure(f"ERROR: ({dotted}) {which}Exactly one of (--disable-ttl | --enable-ttl) "
                      "must be specified.", 2)
    group = flags.get("--collection-group")
    if not group:
        raise failure(f"ERROR: ({dotted}) Error parsing [field].\nThe [field] resource is not "
                      "properly specified.\nFailed to find attribute [collection-group]. The "
                      "attribute can be set in the following ways: \n- provide the argument "
                      "`field` on the command line with a fully specified name\n- provide the "
                      "argument `--collection-group` on the command line", 1)
    current = db["ttl"].get(group)
    if enable:
        # "only one field can be the TTL field for a collection group"
        # (gcloud's help for the command, from the API).
        if current not in (None, field):
            raise failure(f"ERROR: ({dotted}) FAILED_PRECONDITION: The collection group {group} "
                          f"already has a TTL field: {current}.")
        db["ttl"][group] = field
    elif current == field:
        del db["ttl"][group]
    target = f"{name}/collectionGroups/{group}/fields/{field}"
    if "--async" in flags:
        return None
    return {"name": target, "ttlConfig": {"state": "ACTIVE"} if enable else None}
