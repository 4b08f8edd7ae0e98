//! `/metrics/node` and `/metrics/gpu`: the collectors as scrape targets.

use super::gpu::GpuCollector;
use super::node::HostCollector;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

struct Collectors {
    host: HostCollector,
    gpu: GpuCollector,
}

/// The collector routes, their state applied. Builds the collectors once:
/// `sysinfo` state is kept between scrapes and NVML is opened once.
pub fn routes() -> Router {
    let collectors = Arc::new(Collectors {
        host: HostCollector::new(),
        gpu: GpuCollector::from_driver(),
    });
    Router::new()
        .route("/metrics/node", get(node))
        .route("/metrics/gpu", get(gpu))
        .with_state(collectors)
}

async fn node(State(collectors): State<Arc<Collectors>>) -> Response {
    render_blocking(collectors, |c| c.host.render()).await
}

async fn gpu(State(collectors): State<Arc<Collectors>>) -> Response {
    render_blocking(collectors, |c| c.gpu.render()).await
}

/// Collection reads files and the driver, so it runs off the async workers.
async fn render_blocking(collectors: Arc<Collectors>, render: fn(&Collectors) -> String) -> Response {
    match tokio::task::spawn_blocking(move || render(&collectors)).await {
        Ok(body) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("collector failed: {e}"),
        )
            .into_response(),
    }
}
