//! An HTTP client for one repository of one registry, speaking the OCI
//! distribution protocol: the `/v2/` ping, token and Basic
//! authentication, and retries with backoff on transient failures.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::Value;
use tracing::{debug, warn};
use ureq::http::Response;
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};
use ureq::{Agent, Body};

use super::auth::{self, parse_challenge, Challenge, Credentials};
use super::RegistryOptions;
use crate::error::io_err;
use crate::{Result, StorageError};

/// Attempts of one request before a transient failure is reported.
pub(crate) const MAX_ATTEMPTS: u32 = 4;
/// Wait before the second attempt. It doubles for each later one, so the
/// waits add up to 1.75 s.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A transfer that receives nothing for this long fails and is retried.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest error body or token response read into memory.
const SMALL_BODY_LIMIT: u64 = 1024 * 1024;
/// Where the system's CA bundle is on Debian and its derivatives.
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// Podman's per-registry certificate directories: `<dir>/<host:port>/`.
const CERTS_D: &str = "/etc/containers/certs.d";

/// What a client is allowed to do in its repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Pull,
    Push,
}

/// The sleep before attempt `attempt` (1-based, so attempt 2 waits 250 ms).
pub(crate) fn backoff(attempt: u32) -> Duration {
    FIRST_BACKOFF * 2u32.pow(attempt.saturating_sub(2))
}

/// Builds and sends one attempt of a request, given the Authorization
/// header to send, if any.
pub(crate) type RequestBuilder<'a> =
    dyn Fn(&Agent, Option<&str>) -> std::result::Result<Response<Body>, ureq::Error> + 'a;

/// A client for one repository.
pub(crate) struct Client {
    agent: Agent,
    /// The registry as the image name has it, e.g. `127.0.0.1:5000`.
    pub registry: String,
    pub repository: String,
    /// `https://host` or, for an insecure registry, `http://host`.
    base: String,
    credentials: Option<Credentials>,
    access: Access,
    /// The Authorization header that last worked, reused by later requests.
    authorization: Mutex<Option<String>>,
}

impl Client {
    /// Connects to `registry`: builds the TLS configuration, finds the
    /// credentials, and pings `/v2/` over HTTPS (and, with
    /// `tls_verify: false`, over plain HTTP when HTTPS fails).
    pub fn connect(
        registry: &str,
        repository: &str,
        options: &RegistryOptions,
        access: Access,
    ) -> Result<Client> {
        let agent = build_agent(registry, options)?;
        let credentials = match &options.credentials {
            Some(credentials) => Some(credentials.clone()),
            None => auth::lookup(&options.auth_file(), registry)?,
        };
        let host = api_host(registry);
        let schemes: &[&str] = if options.tls_verify {
            &["https"]
        } else {
            &["https", "http"]
        };

        let mut last_reason = String::new();
        for attempt in 1..=MAX_ATTEMPTS {
            if attempt > 1 {
                thread::sleep(backoff(attempt));
            }
            for scheme in schemes {
                let url = format!("{scheme}://{host}/v2/");
                debug!(%url, attempt, "pinging registry");
                match agent.get(&url).call() {
                    Ok(response) => {
                        debug!(%url, status = response.status().as_u16(), "registry answered");
                        return Ok(Client {
                            agent,
                            registry: registry.to_string(),
                            repository: repository.to_string(),
                            base: format!("{scheme}://{host}"),
                            credentials,
                            access,
                            authorization: Mutex::new(None),
                        });
                    }
                    Err(e) => {
                        last_reason = format!("{url}: {e}");
                        debug!(%url, error = %e, "ping failed");
                    }
                }
            }
            if attempt < MAX_ATTEMPTS {
                warn!(registry, attempt, reason = %last_reason, "registry unreachable, retrying");
            }
        }
        if options.tls_verify {
            last_reason.push_str(" (a registry without TLS needs --tls-verify=false)");
        }
        Err(StorageError::RegistryUnreachable {
            registry: registry.to_string(),
            attempts: MAX_ATTEMPTS,
            reason: last_reason,
        })
    }

    /// The URL of `path` under this repository, e.g. `manifests/latest`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/v2/{}/{}", self.base, self.repository, path)
    }

    /// Makes an absolute URL of a `Location` header, which may be a path.
    pub fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}{}", self.base, location)
        }
    }

    /// Sends a request built by `build` with the current Authorization
    /// header, authenticating once on a 401. Connection failures, 429 and
    /// 5xx are retried with backoff; other statuses are returned to the
    /// caller. `reference` and `op` name the request in errors.
    pub fn send(
        &self,
        reference: &str,
        op: &'static str,
        build: &RequestBuilder<'_>,
    ) -> Result<Response<Body>> {
        let current = || self.authorization.lock().expect("not poisoned").clone();
        let response = self.send_with_retries(op, &|agent| build(agent, current().as_deref()))?;
        if response.status() != 401 {
            return Ok(response);
        }
        self.authenticate(reference, &response)?;
        let response = self.send_with_retries(op, &|agent| build(agent, current().as_deref()))?;
        match response.status().as_u16() {
            status @ (401 | 403) => Err(StorageError::Unauthorized {
                reference: reference.to_string(),
                registry: self.registry.clone(),
                status,
            }),
            _ => Ok(response),
        }
    }

    /// Sends a request, retrying connection failures, 429 and 5xx.
    fn send_with_retries(
        &self,
        op: &'static str,
        build: &dyn Fn(&Agent) -> std::result::Result<Response<Body>, ureq::Error>,
    ) -> Result<Response<Body>> {
        let mut attempt = 1;
        loop {
            let reason = match build(&self.agent) {
                Err(e) => e.to_string(),
                Ok(response) if response.status() == 429 || response.status().is_server_error() => {
                    format!("HTTP {}", response.status().as_u16())
                }
                Ok(response) => return Ok(response),
            };
            if attempt >= MAX_ATTEMPTS {
                return Err(StorageError::RegistryUnreachable {
                    registry: self.registry.clone(),
                    attempts: attempt,
                    reason: format!("{op}: {reason}"),
                });
            }
            warn!(registry = %self.registry, op, attempt, %reason, "request failed, retrying");
            attempt += 1;
            thread::sleep(backoff(attempt));
        }
    }

    /// Checks that the registry accepts the client's credentials, as
    /// `login` does before storing them.
    pub fn check_login(&self) -> Result<()> {
        let url = format!("{}/v2/", self.base);
        let response = self.send(&self.registry, "login", &|agent, authorization| {
            let mut request = agent.get(&url);
            if let Some(authorization) = authorization {
                request = request.header("Authorization", authorization);
            }
            request.call()
        })?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(self.status_error(&self.registry, "login", response))
        }
    }

    /// Answers a 401 challenge: Basic sends the credentials, Bearer
    /// fetches a token for this repository from the realm.
    fn authenticate(&self, reference: &str, response: &Response<Body>) -> Result<()> {
        let unauthorized = || StorageError::Unauthorized {
            reference: reference.to_string(),
            registry: self.registry.clone(),
            status: 401,
        };
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|h| h.to_str().ok())
            .and_then(parse_challenge)
            .ok_or_else(unauthorized)?;
        let header = match challenge {
            Challenge::Basic => self
                .credentials
                .as_ref()
                .ok_or_else(unauthorized)?
                .basic_header(),
            Challenge::Bearer { realm, service } => {
                format!("Bearer {}", self.fetch_token(reference, &realm, service)?)
            }
        };
        *self.authorization.lock().expect("not poisoned") = Some(header);
        Ok(())
    }

    fn fetch_token(&self, reference: &str, realm: &str, service: Option<String>) -> Result<String> {
        let actions = match self.access {
            Access::Pull => "pull",
            Access::Push => "pull,push",
        };
        // A login check has no repository, so its token has no scope.
        let scope = (!self.repository.is_empty())
            .then(|| format!("repository:{}:{actions}", self.repository));
        debug!(realm, ?scope, "requesting token");
        let response = self.send_with_retries("token request", &|agent| {
            let mut request = agent.get(realm);
            if let Some(scope) = &scope {
                request = request.query("scope", scope);
            }
            if let Some(service) = &service {
                request = request.query("service", service);
            }
            if let Some(credentials) = &self.credentials {
                request = request.header("Authorization", credentials.basic_header());
            }
            request.call()
        })?;
        if !response.status().is_success() {
            return Err(StorageError::Unauthorized {
                reference: reference.to_string(),
                registry: self.registry.clone(),
                status: response.status().as_u16(),
            });
        }
        let body = read_small(response).unwrap_or_default();
        let value: Value = serde_json::from_slice(&body).unwrap_or_default();
        value
            .get("token")
            .or_else(|| value.get("access_token"))
            .and_then(|t| t.as_str())
            .map(str::to_string)
            .ok_or_else(|| StorageError::RegistryStatus {
                reference: reference.to_string(),
                registry: self.registry.clone(),
                op: "token request",
                status: 200,
                message: "the token response has no token".into(),
            })
    }

    /// Turns an unexpected response into an error that quotes the
    /// registry's own message.
    pub fn status_error(
        &self,
        reference: &str,
        op: &'static str,
        response: Response<Body>,
    ) -> StorageError {
        let status = response.status().as_u16();
        let body = read_small(response).unwrap_or_default();
        StorageError::RegistryStatus {
            reference: reference.to_string(),
            registry: self.registry.clone(),
            op,
            status,
            message: error_message(&body),
        }
    }
}

/// Reads a response body of at most [`SMALL_BODY_LIMIT`] bytes.
pub(crate) fn read_small(response: Response<Body>) -> std::result::Result<Vec<u8>, ureq::Error> {
    let mut body = Vec::new();
    response
        .into_body()
        .into_reader()
        .take(SMALL_BODY_LIMIT)
        .read_to_end(&mut body)?;
    Ok(body)
}

/// The messages of a distribution error body
/// (`{"errors":[{"code":..,"message":..}]}`), or the body's first line.
fn error_message(body: &[u8]) -> String {
    let value: Value = serde_json::from_slice(body).unwrap_or_default();
    let messages: Vec<String> = value
        .get("errors")
        .and_then(|e| e.as_array())
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e.get("message").and_then(|m| m.as_str()))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if !messages.is_empty() {
        return messages.join("; ");
    }
    let text = String::from_utf8_lossy(body);
    let line = text.lines().next().unwrap_or("").trim();
    if line.is_empty() {
        "no message".into()
    } else {
        line.chars().take(200).collect()
    }
}

/// The host that serves the API of `registry`: Docker Hub's is not the
/// name in image references.
fn api_host(registry: &str) -> &str {
    if registry == "docker.io" {
        "registry-1.docker.io"
    } else {
        registry
    }
}

fn build_agent(registry: &str, options: &RegistryOptions) -> Result<Agent> {
    let cert_dir = match &options.cert_dir {
        Some(dir) => Some(dir.clone()),
        None => Some(Path::new(CERTS_D).join(registry)).filter(|d| d.is_dir()),
    };
    let mut tls = TlsConfig::builder().disable_verification(!options.tls_verify);
    if let Some(dir) = &cert_dir {
        let (roots, client_cert) = load_cert_dir(dir)?;
        if !roots.is_empty() {
            tls = tls.root_certs(RootCerts::Specific(Arc::new(roots)));
        }
        tls = tls.client_cert(client_cert);
    }
    let config = Agent::config_builder()
        .http_status_as_error(false)
        .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_recv_body(None)
        .timeout_per_read(Some(READ_TIMEOUT))
        .tls_config(tls.build())
        .build();
    Ok(Agent::new_with_config(config))
}

/// Reads a certificate directory as Podman does: `*.crt` files are CA
/// certificates (added to the system's), and a `NAME.cert` with a
/// matching `NAME.key` is the client certificate.
fn load_cert_dir(dir: &Path) -> Result<(Vec<Certificate<'static>>, Option<ClientCert>)> {
    let invalid = |path: &Path, reason: String| StorageError::InvalidOption {
        option: "cert-dir",
        value: path.display().to_string(),
        reason,
    };
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(io_err("read directory", dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();

    let mut roots = Vec::new();
    let mut client_cert = None;
    for path in &entries {
        match path.extension().and_then(|e| e.to_str()) {
            Some("crt") => {
                let pem = fs::read(path).map_err(io_err("read", path))?;
                roots.extend(pem_certificates(&pem).map_err(|r| invalid(path, r))?);
            }
            Some("cert") => {
                let key_path = path.with_extension("key");
                let pem = fs::read(path).map_err(io_err("read", path))?;
                let key_pem = fs::read(&key_path).map_err(io_err("read", &key_path))?;
                let chain = pem_certificates(&pem).map_err(|r| invalid(path, r))?;
                let key = PrivateKey::from_pem(&key_pem)
                    .map_err(|e| invalid(&key_path, e.to_string()))?;
                client_cert = Some(ClientCert::new_with_certs(&chain, key));
            }
            _ => {}
        }
    }
    if !roots.is_empty() {
        // Added certificates extend the system's trust, never replace it.
        if let Ok(pem) = fs::read(SYSTEM_CA_BUNDLE) {
            roots.extend(pem_certificates(&pem).unwrap_or_default());
        }
    }
    debug!(dir = %dir.display(), roots = roots.len(), client_cert = client_cert.is_some(), "loaded certificate directory");
    Ok((roots, client_cert))
}

fn pem_certificates(pem: &[u8]) -> std::result::Result<Vec<Certificate<'static>>, String> {
    let mut certificates = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        if let PemItem::Certificate(certificate) = item.map_err(|e| e.to_string())? {
            certificates.push(certificate);
        }
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_250_ms() {
        assert_eq!(backoff(2), Duration::from_millis(250));
        assert_eq!(backoff(3), Duration::from_millis(500));
        assert_eq!(backoff(4), Duration::from_millis(1000));
    }

    #[test]
    fn error_message_quotes_registry_errors() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#;
        assert_eq!(error_message(body), "manifest unknown");
        assert_eq!(error_message(b"oops\nmore"), "oops");
        assert_eq!(error_message(b""), "no message");
    }
}
