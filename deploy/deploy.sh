#!/usr/bin/env bash
# Builds both images, creates what they need (service accounts, secrets,
# Cloud SQL), deploys both Cloud Run services with the definitions in this
# folder and wires them together. Re-running it updates in place.
#
# Needs: gcloud (authenticated), docker, openssl, envsubst (gettext-base).
# Required variables:
#   PROJECT_ID, REGION           where to deploy
#   OIDC_CLIENT_ID               the Google OAuth client (see README.md)
#   OIDC_CLIENT_SECRET           its secret (stored in Secret Manager)
#   ALLOWED_DOMAINS              e-mail domains allowed to sign in
# Optional: BROKER_CALLERS, TASK_CALLERS (service-account e-mails),
#   EXTENSION_CLIENT_ID, EXTENSION_ORIGIN, DB_TIER (default db-f1-micro).
set -euo pipefail
cd "$(dirname "$0")/.."

: "${PROJECT_ID:?}" "${REGION:?}" "${OIDC_CLIENT_ID:?}" "${OIDC_CLIENT_SECRET:?}" "${ALLOWED_DOMAINS:?}"
export PROJECT_ID REGION OIDC_CLIENT_ID ALLOWED_DOMAINS
export BROKER_CALLERS="${BROKER_CALLERS:-}" TASK_CALLERS="${TASK_CALLERS:-}"
export EXTENSION_CLIENT_ID="${EXTENSION_CLIENT_ID:-unused.apps.googleusercontent.com}"
export EXTENSION_ORIGIN="${EXTENSION_ORIGIN:-}"
gcloud config set project "$PROJECT_ID" >/dev/null

echo "== APIs"
gcloud services enable run.googleapis.com artifactregistry.googleapis.com \
  secretmanager.googleapis.com sqladmin.googleapis.com iamcredentials.googleapis.com

echo "== images"
REPO="$REGION-docker.pkg.dev/$PROJECT_ID/auth"
gcloud artifacts repositories describe auth --location "$REGION" >/dev/null 2>&1 ||
  gcloud artifacts repositories create auth --repository-format docker --location "$REGION"
gcloud auth configure-docker "$REGION-docker.pkg.dev" --quiet
TAG="$(git rev-parse --short HEAD)"
for service in public-service private-service; do
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
gcloud projects add-iam-policy-binding "$PROJECT_ID" --quiet \
  --member "serviceAccount:$AUTH_SA" --role roles/cloudsql.client >/dev/null

echo "== database"
gcloud sql instances describe auth-db >/dev/null 2>&1 ||
  gcloud sql instances create auth-db --database-version POSTGRES_15 \
    --tier "${DB_TIER:-db-f1-micro}" --region "$REGION"
gcloud sql databases describe auth --instance auth-db >/dev/null 2>&1 ||
  gcloud sql databases create auth --instance auth-db

echo "== secrets (created once; rotate them as deploy/README.md says)"
secret() { # name, command printing the value
  if ! gcloud secrets describe "$1" >/dev/null 2>&1; then
    eval "$2" | gcloud secrets create "$1" --data-file=- --replication-policy automatic
  fi
  gcloud secrets add-iam-policy-binding "$1" --quiet \
    --member "serviceAccount:$AUTH_SA" --role roles/secretmanager.secretAccessor >/dev/null
}
secret oidc-client-secret 'printf %s "$OIDC_CLIENT_SECRET"'
secret handoff-signing-key 'openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt'
secret handoff-previous-keys 'printf "\n"'
secret cookie-secret 'openssl rand -base64 48'
secret token-encryption-keys 'printf "k1:%s" "$(openssl rand -base64 32)"'
if ! gcloud secrets describe database-url >/dev/null 2>&1; then
  DB_PASSWORD="$(openssl rand -hex 24)"
  gcloud sql users create auth --instance auth-db --password "$DB_PASSWORD"
  secret database-url 'printf "postgres://auth:%s@/auth?host=/cloudsql/%s:%s:auth-db" "$DB_PASSWORD" "$PROJECT_ID" "$REGION"'
fi

echo "== deploy"
deploy() { # service name, definition, image
  IMAGE="$3" envsubst < "deploy/$2" > "/tmp/$1.yaml"
  gcloud run services replace "/tmp/$1.yaml" --region "$REGION" --quiet
  # Browsers reach both; back-channel routes check service-account tokens.
  gcloud run services add-iam-policy-binding "$1" --region "$REGION" --quiet \
    --member allUsers --role roles/run.invoker >/dev/null
}
url() { gcloud run services describe "$1" --region "$REGION" --format 'value(status.url)' 2>/dev/null || true; }
# Each service needs the other's URL: Cloud Run URLs are known once a
# service exists, so a first run deploys twice.
export PUBLIC_URL="$(url auth)" APP_URL="$(url app)"
export PUBLIC_URL="${PUBLIC_URL:-https://placeholder.invalid}" APP_URL="${APP_URL:-https://placeholder.invalid}"
for pass in 1 2; do
  deploy app private-service.yaml "$REPO/private-service:$TAG"
  deploy auth public-service.yaml "$REPO/public-service:$TAG"
  NEW_PUBLIC="$(url auth)" NEW_APP="$(url app)"
  if [ "$NEW_PUBLIC" = "$PUBLIC_URL" ] && [ "$NEW_APP" = "$APP_URL" ]; then break; fi
  export PUBLIC_URL="$NEW_PUBLIC" APP_URL="$NEW_APP"
done

echo
echo "Public service: $PUBLIC_URL"
echo "App:            $APP_URL"
echo "Add $PUBLIC_URL/callback to the OAuth client's authorised redirect URIs."
