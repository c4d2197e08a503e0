//! The HTTPS client every AWS client of the pipeline shares.
//!
//! It trusts Mozilla's root certificates, compiled into the binary
//! (`webpki-root-certs`), rather than the operating system's store. The SDK's
//! default reads and parses every file of the system's certificate folder at
//! the first client build, which is most of a Rust function's cold start
//! (about 8 of 12 ms measured by `cdc bench lambda-init` here), while every
//! AWS endpoint chains to a root in Mozilla's list (Amazon Root CA 1-4,
//! Starfield). An operator who needs another root (a TLS-inspecting proxy)
//! sets `SSL_CERT_FILE` or `SSL_CERT_DIR`, as for any OpenSSL program, and
//! the system's store is used as before.

use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_http_client::{Builder, ConnectorBuilder, proxy::ProxyConfig};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// The variables that ask for the system's certificate store.
pub const SYSTEM_STORE_VARIABLES: [&str; 2] = ["SSL_CERT_FILE", "SSL_CERT_DIR"];

/// The HTTPS client for this environment: `None` keeps the SDK's default
/// (system store), chosen when a [`SYSTEM_STORE_VARIABLES`] variable is set.
pub fn for_environment(lookup: impl Fn(&str) -> Option<String>) -> Option<SharedHttpClient> {
    let system_store = SYSTEM_STORE_VARIABLES.iter().any(|v| lookup(v).is_some_and(|s| !s.is_empty()));
    (!system_store).then(with_mozilla_roots)
}

/// The SDK's default client (rustls with aws-lc, proxy from the environment),
/// trusting [`mozilla_roots_pem`] only.
pub fn with_mozilla_roots() -> SharedHttpClient {
    let store = TrustStore::empty().with_native_roots(false).with_pem_certificate(mozilla_roots_pem());
    let context = TlsContext::builder().with_trust_store(store).build().expect("a trust store without server names");
    Builder::new().build_with_connector_fn(move |settings, components| {
        let mut connector = ConnectorBuilder::default()
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
            .tls_context(context.clone());
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// Mozilla's root certificates as one PEM bundle (what the trust store takes).
pub fn mozilla_roots_pem() -> Vec<u8> {
    let mut pem = String::with_capacity(webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() * 2_000);
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        let b64 = aws_smithy_types::base64::encode(cert.as_ref());
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    pem.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    #[test]
    fn the_bundle_holds_every_mozilla_root_unchanged() {
        // GIVEN the compiled-in roots WHEN written as PEM and read back
        let pem = mozilla_roots_pem();
        let read: Vec<CertificateDer> = CertificateDer::pem_slice_iter(&pem).collect::<Result<_, _>>().unwrap();
        // THEN every certificate is there, byte for byte, and Amazon's root is one
        assert_eq!(read.len(), webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
        assert!(read.iter().zip(webpki_root_certs::TLS_SERVER_ROOT_CERTS).all(|(a, b)| a.as_ref() == b.as_ref()));
        assert!(read.len() > 100);
        let amazon = b"Amazon Root CA 1";
        assert!(read.iter().any(|c| c.as_ref().windows(amazon.len()).any(|w| w == amazon)));
    }

    #[test]
    fn a_system_store_variable_keeps_the_sdk_default() {
        // GIVEN no certificate variable THEN the compiled-in roots are used
        assert!(for_environment(|_| None).is_some());
        // GIVEN SSL_CERT_FILE or SSL_CERT_DIR THEN the SDK's default (system store)
        for var in SYSTEM_STORE_VARIABLES {
            assert!(for_environment(|v| (v == var).then(|| "/etc/ssl/certs".to_string())).is_none(), "{var}");
        }
        // GIVEN an empty value THEN it counts as unset
        assert!(for_environment(|_| Some(String::new())).is_some());
    }
}
