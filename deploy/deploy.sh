#!/usr/bin/env bash
# Builds both images, creates what they need (service accounts, secrets,
# the database: Firestore, or Cloud SQL with STORE=cloudsql), deploys both
# Cloud Run services with the definitions in this
# folder and wires them together. Re-running it updates in place, and a run
# that stopped half-way (quota, network, a refused call) is finished by
# running it again: every step checks what exists before creating it.
#
# Needs: gcloud (authenticated), docker, openssl, envsubst (gettext-base).
# Required variables:
#   PROJECT_ID, REGION           where to deploy
#   OIDC_CLIENT_ID               the Google OAuth client (see README.md)
#   OIDC_CLIENT_SECRET           its secret (stored in Secret Manager once)
#   ALLOWED_HOSTED_DOMAINS       Google Workspace domains allowed to sign in
#                                (checked against the ID token's `hd`)
# Or, instead or as well: ALLOWED_DOMAINS (any verified address at the
#   domain, consumer accounts made with a work address among them: see
#   docs/security.md), ALLOWED_EMAILS (single addresses).
# Optional: STORE, where the public service keeps grants and sessions:
#   firestore (the default: no instance, nothing billed while idle within
#   the free tier) or cloudsql (an always-on PostgreSQL instance);
#   FIRESTORE_DATABASE (default "(default)"), FIRESTORE_LOCATION (default
#   REGION; a Firestore location, https://cloud.google.com/firestore/docs/locations);
#   BROKER_CALLERS, TASK_CALLERS (service-account e-mails),
#   BROKER_CALLER_SCOPES (needed with BROKER_CALLERS: what each may get,
#   <account>=<scope> <scope>…, comma-separated; see README.md),
#   EXTENSION_CLIENT_ID, EXTENSION_ORIGIN, DB_TIER (STORE=cloudsql only;
#   default db-f1-micro; see README.md before changing it: the pool size is
#   sized for it),
#   IMAGE_TAG (default: the commit), RETRY_DELAY (first back-off, seconds).
# Your own app instead of the Rust private service: APP_IMAGE (an image
#   already pushed, e.g. europe-west1-docker.pkg.dev/P/apps/web:1) runs as a
#   sidecar behind the gate, one Cloud Run service (deploy/gated-service.yaml);
#   APP_PORT (default 8080) is the localhost port it listens on (it is given
#   PORT=APP_PORT). Only the gate's image is built then, besides the public
#   service's.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${PROJECT_ID:?}" "${REGION:?}" "${OIDC_CLIENT_ID:?}" "${OIDC_CLIENT_SECRET:?}"
export ALLOWED_HOSTED_DOMAINS="${ALLOWED_HOSTED_DOMAINS:-}" ALLOWED_DOMAINS="${ALLOWED_DOMAINS:-}"
export ALLOWED_EMAILS="${ALLOWED_EMAILS:-}"
if [ -z "$ALLOWED_HOSTED_DOMAINS$ALLOWED_DOMAINS$ALLOWED_EMAILS" ]; then
  echo "deploy.sh: set ALLOWED_HOSTED_DOMAINS (your Workspace domain), or ALLOWED_DOMAINS / ALLOWED_EMAILS: no one could sign in" >&2
  exit 2
fi
if [ -n "$ALLOWED_DOMAINS" ]; then
  echo "deploy.sh: ALLOWED_DOMAINS admits any verified address at $ALLOWED_DOMAINS, consumer accounts included; ALLOWED_HOSTED_DOMAINS admits the Workspace domain only" >&2
fi
export PROJECT_ID REGION OIDC_CLIENT_ID
export BROKER_CALLERS="${BROKER_CALLERS:-}" TASK_CALLERS="${TASK_CALLERS:-}"
export BROKER_CALLER_SCOPES="${BROKER_CALLER_SCOPES:-}"
if [ -n "$BROKER_CALLERS" ] && [ -z "$BROKER_CALLER_SCOPES" ]; then
  # The public service refuses to start without it; say so before deploying.
  echo "deploy.sh: BROKER_CALLERS needs BROKER_CALLER_SCOPES, what each caller may get, e.g. BROKER_CALLER_SCOPES='backend@$PROJECT_ID.iam.gserviceaccount.com=email' (or <account>=* for every scope)" >&2
  exit 2
fi
export EXTENSION_CLIENT_ID="${EXTENSION_CLIENT_ID:-unused.apps.googleusercontent.com}"
export APP_IMAGE="${APP_IMAGE:-}" APP_PORT="${APP_PORT:-8080}"
if [ -n "$APP_IMAGE" ]; then
  # The gate listens on 8081 (deploy/gated-service.yaml); the app shares
  # its localhost.
  if ! [[ "$APP_PORT" =~ ^[0-9]+$ ]] || [ "$APP_PORT" -lt 1 ] || [ "$APP_PORT" -gt 65535 ] || [ "$APP_PORT" = 8081 ]; then
    echo "deploy.sh: APP_PORT must be the port your app listens on, 1-65535 and not 8081 (the gate's), e.g. APP_PORT=8080" >&2
    exit 2
  fi
fi
export EXTENSION_ORIGIN="${EXTENSION_ORIGIN:-}"
export STORE="${STORE:-firestore}"
case "$STORE" in
  firestore | cloudsql) ;;
  *)
    echo "deploy.sh: STORE must be firestore (the default) or cloudsql, e.g. STORE=cloudsql for an always-on Cloud SQL PostgreSQL; got '$STORE'" >&2
    exit 2
    ;;
esac
# (default), not a named database: the free tier goes to one database per
# project, "the first database that is created in a project without a free
# tier database" (https://cloud.google.com/firestore/quotas, "Free Tier
# usage"), and the pricing page says "Only the (default) database qualifies
# for the free quota" (https://cloud.google.com/firestore/pricing, "Free
# quota"): (default) gets it under both readings. A project whose (default)
# already serves something else can name another (billed from the first
# operation).
FIRESTORE_DATABASE="${FIRESTORE_DATABASE:-(default)}"
FIRESTORE_LOCATION="${FIRESTORE_LOCATION:-$REGION}"
# The public service's DATABASE_URL: firestore://PROJECT is the (default)
# database, firestore://PROJECT/DATABASE a named one.
if [ "$FIRESTORE_DATABASE" = "(default)" ]; then
  export FIRESTORE_URL="firestore://$PROJECT_ID"
else
  export FIRESTORE_URL="firestore://$PROJECT_ID/$FIRESTORE_DATABASE"
fi
gcloud config set project "$PROJECT_ID" >/dev/null

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# Runs an IAM grant until it succeeds, waiting 2, 4, 8 … s in between, at
# most 7 times (about 4 minutes), but only while IAM answers that the
# service account does not exist: a role granted to an account just created
# is refused so while IAM propagates it
# (https://cloud.google.com/iam/docs/access-change-propagation). Any other
# refusal is final and stops the script at once with gcloud's own message.
retry() {
  local attempt=1 delay="${RETRY_DELAY:-2}" errors="$WORK/retry.err"
  until "$@" 2>"$errors"; do
    if ! grep -q "Service account .* does not exist" "$errors"; then
      cat "$errors" >&2
      echo "deploy.sh: refused, and not for IAM propagation (not retried): $*" >&2
      return 1
    fi
    if [ "$attempt" -ge 7 ]; then
      cat "$errors" >&2
      echo "deploy.sh: gave up after $attempt attempts: IAM still reports the account missing: $*" >&2
      return 1
    fi
    echo "deploy.sh: retrying in ${delay}s (IAM may still be propagating the new account)" >&2
    sleep "$delay"
    attempt=$((attempt + 1))
    delay="$(awk -v d="$delay" 'BEGIN { print d * 2 }')"
  done
  cat "$errors" >&2
}

echo "== APIs"
# iam.googleapis.com: `iam service-accounts create` calls it
# (https://cloud.google.com/iam/docs/service-accounts-create, "Before you begin").
if [ "$STORE" = cloudsql ]; then STORE_API=sqladmin.googleapis.com; else STORE_API=firestore.googleapis.com; fi
gcloud services enable run.googleapis.com artifactregistry.googleapis.com \
  secretmanager.googleapis.com "$STORE_API" iam.googleapis.com \
  iamcredentials.googleapis.com

echo "== images"
REPO="$REGION-docker.pkg.dev/$PROJECT_ID/auth"
gcloud artifacts repositories describe auth --location "$REGION" >/dev/null 2>&1 ||
  gcloud artifacts repositories create auth --repository-format docker --location "$REGION"
gcloud auth configure-docker "$REGION-docker.pkg.dev" --quiet
TAG="${IMAGE_TAG:-$(git rev-parse --short HEAD)}"
# With APP_IMAGE the app is the operator's image: only the gate is built.
if [ -n "$APP_IMAGE" ]; then
  APP_DEFINITION=gated-service.yaml APP_BUILT=handoff-gate
else
  APP_DEFINITION=private-service.yaml APP_BUILT=private-service
fi
export GATE_IMAGE="$REPO/handoff-gate:$TAG"
for service in public-service "$APP_BUILT"; do
  docker build -f deploy/Dockerfile --target "$service" -t "$REPO/$service:$TAG" .
  docker push "$REPO/$service:$TAG"
done

echo "== service accounts"
for account in auth-service app-service; do
  gcloud iam service-accounts describe "$account@$PROJECT_ID.iam.gserviceaccount.com" >/dev/null 2>&1 ||
    gcloud iam service-accounts create "$account"
done
export APP_SERVICE_ACCOUNT="app-service@$PROJECT_ID.iam.gserviceaccount.com"
AUTH_SA="auth-service@$PROJECT_ID.iam.gserviceaccount.com"
# --condition=None: without it gcloud refuses, when it cannot prompt (--quiet),
# to add a binding to a policy that holds any conditional binding ("Adding a
# binding without specifying a condition to a policy containing conditions
# is prohibited in non-interactive mode"; gcloud 528); the same for secrets.
if [ "$STORE" = cloudsql ]; then
  retry gcloud projects add-iam-policy-binding "$PROJECT_ID" --quiet \
    --member "serviceAccount:$AUTH_SA" --role roles/cloudsql.client --condition=None >/dev/null
else
  # roles/datastore.user: read and write documents, nothing administrative
  # (https://cloud.google.com/firestore/docs/security/iam). On the project,
  # unconditioned: the account is the public service's alone. An IAM
  # condition limiting it to this database (gcloud takes --condition) is
  # left out: that page does not give the resource name such a condition
  # is evaluated against, and a wrong one would lock the service out.
  retry gcloud projects add-iam-policy-binding "$PROJECT_ID" --quiet \
    --member "serviceAccount:$AUTH_SA" --role roles/datastore.user --condition=None >/dev/null
fi

echo "== database ($STORE)"
if [ "$STORE" = cloudsql ]; then
  # Enterprise edition: the shared-core tiers (db-f1-micro, db-g1-small) exist
  # only there, and newer PostgreSQL versions default to Enterprise Plus.
  gcloud sql instances describe auth-db >/dev/null 2>&1 ||
    gcloud sql instances create auth-db --database-version POSTGRES_15 --edition enterprise \
      --tier "${DB_TIER:-db-f1-micro}" --region "$REGION"
  gcloud sql databases describe auth --instance auth-db >/dev/null 2>&1 ||
    gcloud sql databases create auth --instance auth-db
else
  # Firestore Native mode, created once; an existing database of the other
  # mode (Datastore) cannot serve the public service, so the run stops
  # (https://cloud.google.com/sdk/gcloud/reference/firestore/databases/create).
  firestore_type() {
    gcloud firestore databases describe --database="$FIRESTORE_DATABASE" \
      --format 'value(type)' 2>/dev/null || true
  }
  existing="$(firestore_type)"
  if [ -z "$existing" ]; then
    gcloud firestore databases create --database="$FIRESTORE_DATABASE" \
      --location="$FIRESTORE_LOCATION" --type=firestore-native
    # The create call returns an operation; the database is read back
    # before its fields are configured (2, 4, 8 … s, about 2 minutes).
    delay="${RETRY_DELAY:-2}"
    for _ in 1 2 3 4 5 6; do
      existing="$(firestore_type)"
      [ -n "$existing" ] && break
      sleep "$delay"
      delay="$(awk -v d="$delay" 'BEGIN { print d * 2 }')"
    done
  fi
  if [ "$existing" != FIRESTORE_NATIVE ]; then
    echo "deploy.sh: the Firestore database $FIRESTORE_DATABASE is ${existing:-not readable}, not FIRESTORE_NATIVE; set FIRESTORE_DATABASE to another name, e.g. FIRESTORE_DATABASE=auth (a named database has no free tier)" >&2
    exit 1
  fi
  # Expired sessions, handoff codes and logout token IDs are deleted by
  # Firestore's TTL policies on their delete_after timestamps
  # (https://cloud.google.com/firestore/docs/ttl); grants have none. One TTL
  # field per collection group; set once (listed first), without waiting:
  # a new policy takes effect in the background. The service refuses
  # expired entries itself, so nothing depends on how soon they go.
  for group in sessions handoff_codes logout_jtis; do
    if ! gcloud firestore fields ttls list --database="$FIRESTORE_DATABASE" \
      --collection-group="$group" --format 'value(name)' | grep -q '/fields/delete_after$'; then
      gcloud firestore fields ttls update delete_after --database="$FIRESTORE_DATABASE" \
        --collection-group="$group" --enable-ttl --async
    fi
  done
  # No composite index: the store's queries each filter or order on one
  # field, which Firestore's automatic single-field indexes serve
  # (https://cloud.google.com/firestore/docs/query-data/index-overview,
  # "Single-field indexes"); deploy/firestore-indexes.md lists them. An
  # index it lists as composite would be created here.
fi

echo "== secrets (created once; rotate them as deploy/README.md says)"
# Each secret is created, given a first version if it has none, and readable
# by the public service's account; SECRET_VERSION_<NAME> is then the version
# the services are deployed with. Cloud Run resolves secrets in environment
# variables when an instance starts, so they are pinned to a version: a new
# version reaches the services when this script runs again, not at a random
# cold start (https://cloud.google.com/run/docs/configuring/services/secrets).
secret() { # name, command printing the first value
  gcloud secrets describe "$1" >/dev/null 2>&1 ||
    gcloud secrets create "$1" --replication-policy automatic
  if [ -z "$(gcloud secrets versions list "$1" --limit 1 --format 'value(name)')" ]; then
    eval "$2" | gcloud secrets versions add "$1" --data-file=-
  fi
  retry gcloud secrets add-iam-policy-binding "$1" --quiet --condition=None \
    --member "serviceAccount:$AUTH_SA" --role roles/secretmanager.secretAccessor >/dev/null
  local variable version
  version="$(gcloud secrets versions describe latest --secret "$1" --format 'value(name.basename())')"
  variable="SECRET_VERSION_$(printf %s "$1" | tr a-z- A-Z_)"
  printf -v "$variable" %s "$version"
  export "${variable?}"
}
secret oidc-client-secret 'printf %s "$OIDC_CLIENT_SECRET"'
secret handoff-signing-key 'openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt'
secret handoff-previous-keys 'printf "\n"'
secret cookie-secret 'openssl rand -base64 48'
secret token-encryption-keys 'printf "k1:%s" "$(openssl rand -base64 32)"'
# Cloud SQL only: Firestore needs no URL secret, no password and no user;
# the public service reaches it with its account's token.
if [ "$STORE" = cloudsql ]; then
  # The database URL is stored before the user exists, and the user's password
  # is then set from it, so a run stopped between the two is finished by the
  # next one. The password is hex (URL-safe as it is). The host is "localhost"
  # because an empty host with credentials is not a valid URL (sqlx refuses
  # it); with host= set, sqlx connects to the socket in that directory
  # instead: https://docs.rs/sqlx/0.8/sqlx/postgres/struct.PgConnectOptions.html
  # ("Note: Unix Domain Sockets").
  # A new password, used only if the secret is created now.
  DB_PASSWORD="$(openssl rand -hex 24)"
  secret database-url 'printf "postgres://auth:%s@localhost/auth?host=/cloudsql/%s:%s:auth-db" "$DB_PASSWORD" "$PROJECT_ID" "$REGION"'
  # The password of the stored URL: this run's, an earlier run's, or a rotated one.
  DB_PASSWORD="$(gcloud secrets versions access "$SECRET_VERSION_DATABASE_URL" --secret database-url |
    sed -n 's|^postgres://auth:\([0-9a-f]*\)@.*|\1|p')"
  if [ -z "$DB_PASSWORD" ]; then
    echo "deploy.sh: the database-url secret is not in the form this script writes" >&2
    exit 1
  fi
  # The password goes to gcloud in a flags file (`gcloud topic flags-file`),
  # never in its arguments, which every user of this machine can read (ps)
  # while the call runs. Quoted: a plain YAML scalar such as 1e5 would reach
  # gcloud as the number 100000.0. printf is a shell builtin: no process has
  # the password in its arguments here either.
  (umask 077 && printf -- '--password: "%s"\n' "$DB_PASSWORD" > "$WORK/db-password.yaml")
  unset DB_PASSWORD
  if gcloud sql users list --instance auth-db --format 'value(name)' | grep -qx auth; then
    gcloud sql users set-password auth --instance auth-db --flags-file "$WORK/db-password.yaml"
  else
    gcloud sql users create auth --instance auth-db --flags-file "$WORK/db-password.yaml"
  fi
  rm -f "$WORK/db-password.yaml"
fi

echo "== deploy"
# render.sh keeps the store's own lines of public-service.yaml (STORE).
deploy() { # service name, definition, image
  IMAGE="$3" deploy/render.sh "deploy/$2" > "$WORK/$1.yaml"
  gcloud run services replace "$WORK/$1.yaml" --region "$REGION" --quiet
}
url() { gcloud run services describe "$1" --region "$REGION" --format 'value(status.url)' 2>/dev/null || true; }
# Each service names the other and itself. The public service becomes ready
# without the app (its readiness is its database and the provider); the app
# does not without the public service: it needs its keys, and it is ready
# only once it has read the public service's revoked-session feed, which
# checks that the app's ID token names the public service's own URL
# (PUBLIC_URL). So the public service goes first (placeholders on a first
# run) and again at once if it did not yet know its own URL; then the app,
# with the public service's real URL; then each one again whose URLs were
# not the real ones (on a first run: the app for its own URL, then the
# public service for the app's). URLs are read back from Cloud Run, not
# predicted.
export PUBLIC_URL APP_URL
PUBLIC_URL="$(url auth)" APP_URL="$(url app)"
PUBLIC_URL="${PUBLIC_URL:-https://auth.invalid}" APP_URL="${APP_URL:-https://app.invalid}"
deploy auth public-service.yaml "$REPO/public-service:$TAG"
AUTH_GIVEN="$PUBLIC_URL $APP_URL"
PUBLIC_URL="$(url auth)"
if [ -z "$PUBLIC_URL" ]; then echo "deploy.sh: Cloud Run reports no URL for auth" >&2; exit 1; fi
if [ "$PUBLIC_URL $APP_URL" != "$AUTH_GIVEN" ]; then
  deploy auth public-service.yaml "$REPO/public-service:$TAG"
  AUTH_GIVEN="$PUBLIC_URL $APP_URL"
fi
deploy app "$APP_DEFINITION" "$REPO/$APP_BUILT:$TAG"
APP_GIVEN="$PUBLIC_URL $APP_URL"
APP_URL="$(url app)"
if [ "$PUBLIC_URL $APP_URL" != "$APP_GIVEN" ]; then
  deploy app "$APP_DEFINITION" "$REPO/$APP_BUILT:$TAG"
fi
if [ "$PUBLIC_URL $APP_URL" != "$AUTH_GIVEN" ]; then
  deploy auth public-service.yaml "$REPO/public-service:$TAG"
fi

echo
echo "Public service: $PUBLIC_URL"
echo "App:            $APP_URL"
echo "Add $PUBLIC_URL/callback to the OAuth client's authorised redirect URIs."
