//! The bundled UI: the files Vite builds into `ui/dist`, embedded in the binary
//! with rust-embed and served at `/`.
//!
//! Owns serving those files only: any path that is not a file and not under `/api/`
//! gets `index.html` (the UI routes itself), hashed files under `assets/` are cached
//! for a year and `index.html` is revalidated through its ETag. The build writes a
//! Brotli and a gzip copy beside each compressible file, so compression costs nothing
//! at request time. `build.rs` runs the UI build; this module must not know about
//! any API.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use rust_embed::Embed;
use std::borrow::Cow;

#[derive(Embed)]
#[folder = "ui/dist/"]
struct Assets;

const INDEX: &str = "index.html";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

/// Serves the UI for every GET the API routes did not answer.
pub fn router() -> Router {
    Router::new().fallback(serve)
}

async fn serve(uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().trim_start_matches('/');
    if path.starts_with("api/") {
        let body = r#"{"status":"error","errorType":"not_found","error":"no such API endpoint"}"#;
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
    }
    let path = if path.is_empty() || Assets::get(path).is_none() {
        INDEX
    } else {
        path
    };
    asset(path, &headers).unwrap_or_else(|| {
        (
            StatusCode::NOT_FOUND,
            "the UI was not built into this binary; see README.md",
        )
            .into_response()
    })
}

/// The file at `path`, precompressed when the client accepts it, or 304 when its ETag matches.
/// Each encoding has its own ETag, as the bytes differ.
fn asset(path: &str, headers: &HeaderMap) -> Option<Response> {
    let file = Assets::get(path)?;
    let compressed = precompressed(path, headers);
    let suffix = compressed.as_ref().map_or("", |(encoding, _)| *encoding);
    let etag = format!("\"{}{suffix}\"", hex(&file.metadata.sha256_hash()[..16]));
    let cache = if path.starts_with("assets/") {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    let mut response_headers = HeaderMap::new();
    insert(&mut response_headers, header::ETAG, &etag);
    insert(&mut response_headers, header::CACHE_CONTROL, cache);
    insert(&mut response_headers, header::VARY, "Accept-Encoding");
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        return Some((StatusCode::NOT_MODIFIED, response_headers).into_response());
    }
    insert(
        &mut response_headers,
        header::CONTENT_TYPE,
        file.metadata.mimetype(),
    );
    let data = match compressed {
        Some((encoding, copy)) => {
            insert(&mut response_headers, header::CONTENT_ENCODING, encoding);
            copy.data
        }
        None => file.data,
    };
    // Release builds embed the bytes: serve them without copying.
    let body = match data {
        Cow::Borrowed(bytes) => Body::from(Bytes::from_static(bytes)),
        Cow::Owned(bytes) => Body::from(bytes),
    };
    Some((response_headers, body).into_response())
}

/// The Brotli or gzip copy of `path`, whichever the client accepts first in our preference.
fn precompressed(path: &str, headers: &HeaderMap) -> Option<(&'static str, rust_embed::EmbeddedFile)> {
    let accepted = headers.get(header::ACCEPT_ENCODING)?.to_str().ok()?;
    let accepts = |coding: &str| {
        accepted.split(',').any(|part| {
            let mut fields = part.split(';');
            let name = fields.next().unwrap_or("").trim();
            let refused = fields.any(|q| q.trim().replace(' ', "") == "q=0");
            name == coding && !refused
        })
    };
    [("br", "br"), ("gzip", "gz")]
        .into_iter()
        .filter(|(coding, _)| accepts(coding))
        .find_map(|(coding, ext)| Assets::get(&format!("{path}.{ext}")).map(|f| (coding, f)))
}

fn insert(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(encoding: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(encoding).unwrap());
        h
    }

    #[test]
    fn index_is_embedded_and_revalidated() {
        let response = asset(INDEX, &HeaderMap::new()).expect("ui/dist/index.html is embedded");
        assert_eq!(response.headers()[header::CACHE_CONTROL], REVALIDATE);
        assert!(response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let etag = response.headers()[header::ETAG].clone();
        let mut again = HeaderMap::new();
        again.insert(header::IF_NONE_MATCH, etag);
        assert_eq!(asset(INDEX, &again).unwrap().status(), StatusCode::NOT_MODIFIED);
    }

    #[test]
    fn hashed_assets_are_immutable_and_precompressed() {
        let script = Assets::iter()
            .find(|p| p.starts_with("assets/") && p.ends_with(".js"))
            .expect("a built script under assets/");
        let response = asset(&script, &headers("gzip, deflate, br")).unwrap();
        assert_eq!(response.headers()[header::CACHE_CONTROL], IMMUTABLE);
        assert_eq!(response.headers()[header::CONTENT_ENCODING], "br");
        let response = asset(&script, &headers("gzip;q=1, br;q=0")).unwrap();
        assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
        let response = asset(&script, &HeaderMap::new()).unwrap();
        assert!(response.headers().get(header::CONTENT_ENCODING).is_none());
    }
}
