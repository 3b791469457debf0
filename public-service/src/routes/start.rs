use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use crate::boundary::MaybeSession;
use crate::pages::{render, StartPage};
use crate::state::AppState;

/// The start page: one button that signs in to the default app; to a
/// browser already signed in, who it is signed in as, the way on to the
/// app (renewal, no trip to the provider), its sessions and sign-out.
pub async fn start(
    MaybeSession(session): MaybeSession,
    state: web::Data<AppState>,
) -> HttpResponse {
    let app = state.apps.default_app();
    let path = if session.is_some() { "renew" } else { "login" };
    let mut login_url = url::Url::parse("http://x/").expect("a valid constant URL");
    login_url
        .query_pairs_mut()
        .append_pair("return_to", app.origin_url().as_str());
    let login_url = format!("/{path}?{}", login_url.query().unwrap_or_default());
    render(
        StatusCode::OK,
        &StartPage {
            provider_name: &state.provider_name,
            app_name: app.audience(),
            login_url: &login_url,
            signed_in_as: session.as_ref().map(|s| s.email.as_str()),
            dev_mode: state.dev_mode,
        },
    )
}
