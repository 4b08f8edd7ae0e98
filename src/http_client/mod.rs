//! HTTP clients for everything Sightline calls out to: scrapes, HTTP service
//! discovery, outgoing remote write and notification receivers.
//!
//! Owns turning a job's `basic_auth`, `authorization`, `tls_config`,
//! `follow_redirects` and `enable_compression` into a pooled reqwest client
//! (rustls) plus the `Authorization` header. Credentials
//! in files are read at every request, as Prometheus does, so rotated tokens work.

use std::time::Duration;

use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::{Certificate, Client, Identity, RequestBuilder};

use crate::config::{Authorization, BasicAuth, TlsConfig};

/// Go's `http.Client` gives up after 10 redirects; so does Prometheus.
const MAX_REDIRECTS: usize = 10;
const USER_AGENT: &str = concat!("Sightline/", env!("CARGO_PKG_VERSION"));

/// The HTTP side of a job or an `http_sd_configs` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSettings {
    pub basic_auth: Option<BasicAuth>,
    pub authorization: Option<Authorization>,
    pub tls: TlsConfig,
    pub follow_redirects: bool,
    pub compression: bool,
}

/// A client and how to authenticate its requests.
#[derive(Debug, Clone)]
pub struct HttpClient {
    pub client: Client,
    settings: HttpSettings,
}

impl HttpClient {
    pub fn new(settings: HttpSettings) -> Result<Self, String> {
        let mut builder = Client::builder()
            .user_agent(USER_AGENT)
            .pool_idle_timeout(Duration::from_secs(90))
            .redirect(redirect_policy(settings.follow_redirects));
        builder = if settings.compression {
            builder.gzip(true)
        } else {
            builder.no_gzip()
        };
        builder = with_tls(builder, &settings.tls)?;
        let client = builder
            .build()
            .map_err(|err| format!("cannot build HTTP client: {err}"))?;
        Ok(HttpClient { client, settings })
    }

    /// Adds the configured credentials to `request`; reads credential files now.
    pub fn authorize(&self, request: RequestBuilder) -> Result<RequestBuilder, String> {
        match (&self.settings.basic_auth, &self.settings.authorization) {
            (Some(basic), _) => {
                let (username, password) = basic_credentials(basic)?;
                Ok(request.basic_auth(username, Some(password)))
            }
            (None, Some(auth)) => Ok(match authorization_header(auth)? {
                Some(value) => request.header(AUTHORIZATION, value),
                None => request,
            }),
            (None, None) => Ok(request),
        }
    }
}

fn redirect_policy(follow: bool) -> reqwest::redirect::Policy {
    if follow {
        reqwest::redirect::Policy::limited(MAX_REDIRECTS)
    } else {
        reqwest::redirect::Policy::none()
    }
}

pub fn with_tls(
    mut builder: reqwest::ClientBuilder,
    tls: &TlsConfig,
) -> Result<reqwest::ClientBuilder, String> {
    if let Some(ca_file) = &tls.ca_file {
        let pem = read_file(ca_file, "ca_file")?;
        let certs = Certificate::from_pem_bundle(&pem)
            .map_err(|err| format!("unable to use specified CA cert {ca_file}: {err}"))?;
        builder = builder.tls_certs_only(certs);
    }
    if let (Some(cert_file), Some(key_file)) = (&tls.cert_file, &tls.key_file) {
        let mut pem = read_file(cert_file, "cert_file")?;
        pem.extend_from_slice(b"\n");
        pem.extend_from_slice(&read_file(key_file, "key_file")?);
        let identity = Identity::from_pem(&pem)
            .map_err(|err| format!("unable to use client certificate {cert_file}: {err}"))?;
        builder = builder.identity(identity);
    }
    if tls.server_name.is_some() {
        return Err("tls_config.server_name is not supported yet; use the name in the certificate".into());
    }
    Ok(builder.tls_danger_accept_invalid_certs(tls.insecure_skip_verify))
}

fn read_file(path: &str, field: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|err| format!("cannot read {field} {path}: {err}"))
}

fn read_trimmed(path: &str, field: &str) -> Result<String, String> {
    let bytes = read_file(path, field)?;
    let text = String::from_utf8(bytes).map_err(|_| format!("{field} {path} is not UTF-8"))?;
    Ok(text.trim().to_string())
}

fn basic_credentials(auth: &BasicAuth) -> Result<(String, String), String> {
    let username = match &auth.username_file {
        Some(file) => read_trimmed(file, "username_file")?,
        None => auth.username.clone(),
    };
    let password = match (&auth.password, &auth.password_file) {
        (_, Some(file)) => read_trimmed(file, "password_file")?,
        (Some(secret), None) => secret.expose().to_string(),
        (None, None) => String::new(),
    };
    Ok((username, password))
}

fn authorization_header(auth: &Authorization) -> Result<Option<HeaderValue>, String> {
    let credentials = match (&auth.credentials, &auth.credentials_file) {
        (_, Some(file)) => read_trimmed(file, "credentials_file")?,
        (Some(secret), None) => secret.expose().to_string(),
        (None, None) => return Ok(None),
    };
    let value = format!("{} {credentials}", auth.r#type);
    HeaderValue::from_str(&value)
        .map(Some)
        .map_err(|_| "authorization credentials are not a valid header value".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> HttpSettings {
        HttpSettings {
            basic_auth: None,
            authorization: None,
            tls: TlsConfig::default(),
            follow_redirects: true,
            compression: true,
        }
    }

    #[test]
    fn basic_auth_reads_the_password_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "open sesame\n").unwrap();
        let yaml = format!("{{username: Aladdin, password_file: {}}}", file.display());
        let basic: BasicAuth = serde_saphyr::from_str(&yaml).unwrap();
        let credentials = basic_credentials(&basic).unwrap();
        assert_eq!(credentials, ("Aladdin".to_string(), "open sesame".to_string()));
    }

    #[test]
    fn bearer_credentials_come_from_a_file_at_each_request() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "t1\n").unwrap();
        let yaml = format!("{{credentials_file: {}}}", file.display());
        let auth: Authorization = serde_saphyr::from_str(&yaml).unwrap();
        let client = HttpClient::new(HttpSettings {
            authorization: Some(auth),
            ..settings()
        })
        .unwrap();
        let header = |client: &HttpClient| {
            let request = client
                .authorize(client.client.get("http://x/"))
                .unwrap()
                .build()
                .unwrap();
            request.headers()[AUTHORIZATION].clone()
        };
        assert_eq!(header(&client), "Bearer t1");
        std::fs::write(&file, "t2").unwrap();
        assert_eq!(header(&client), "Bearer t2");
    }

    #[test]
    fn a_missing_ca_file_is_reported() {
        let tls = TlsConfig {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsConfig::default()
        };
        let err = HttpClient::new(HttpSettings { tls, ..settings() }).unwrap_err();
        assert!(err.contains("cannot read ca_file /nonexistent/ca.pem"), "{err}");
    }
}
