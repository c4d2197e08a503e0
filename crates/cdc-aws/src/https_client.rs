//! The HTTPS client every AWS client of the pipeline shares.
//!
//! It trusts the five Amazon Trust Services roots, compiled into the binary
//! from Mozilla's list (`webpki-root-certs`), rather than the operating
//! system's store. AWS endpoints present Amazon Trust Services certificates,
//! and these five are the roots ATS recommends for a custom trust store
//! (<https://www.amazontrust.com/repository/>): Amazon Root CA 1-4 and
//! Starfield Services Root Certificate Authority - G2. The SDK's default
//! instead reads and parses every certificate of the system's store when the
//! first client is built, most of a function's cold start (about 8 of 12 ms
//! measured by `cdc bench lambda-init` here); parsing Mozilla's whole list
//! from the binary still costs several ms. An operator who needs another root
//! (a TLS-inspecting proxy) sets `SSL_CERT_FILE` or `SSL_CERT_DIR`, as for any
//! OpenSSL program, and the system's store is used as before.

use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_http_client::{Builder, ConnectorBuilder, proxy::ProxyConfig};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// The variables that ask for the system's certificate store.
pub const SYSTEM_STORE_VARIABLES: [&str; 2] = ["SSL_CERT_FILE", "SSL_CERT_DIR"];

/// The HTTPS client for this environment: `None` keeps the SDK's default
/// (system store), chosen when a [`SYSTEM_STORE_VARIABLES`] variable is set.
pub fn for_environment(lookup: impl Fn(&str) -> Option<String>) -> Option<SharedHttpClient> {
    let system_store = SYSTEM_STORE_VARIABLES.iter().any(|v| lookup(v).is_some_and(|s| !s.is_empty()));
    (!system_store).then(with_amazon_roots)
}

/// The common names of the Amazon Trust Services roots.
pub const AMAZON_TRUST_SERVICES_ROOTS: [&str; 5] = [
    "Amazon Root CA 1",
    "Amazon Root CA 2",
    "Amazon Root CA 3",
    "Amazon Root CA 4",
    "Starfield Services Root Certificate Authority - G2",
];

/// The SDK's default client (rustls with aws-lc, proxy from the environment),
/// trusting [`amazon_roots_pem`] only.
pub fn with_amazon_roots() -> SharedHttpClient {
    let store = TrustStore::empty().with_native_roots(false).with_pem_certificate(amazon_roots_pem());
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

/// The certificates of Mozilla's list whose common name is one of
/// [`AMAZON_TRUST_SERVICES_ROOTS`].
pub fn amazon_roots() -> Vec<&'static [u8]> {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|c| c.as_ref())
        .filter(|der| AMAZON_TRUST_SERVICES_ROOTS.iter().any(|cn| has_common_name(der, cn)))
        .collect()
}

/// Whether a root's DER holds `cn` as a whole string value (a DER string is
/// its tag, its length, then the bytes; a root's subject is also its issuer).
fn has_common_name(der: &[u8], cn: &str) -> bool {
    const STRING_TAGS: [u8; 2] = [0x0c, 0x13]; // UTF8String, PrintableString
    let value = cn.as_bytes();
    der.windows(value.len() + 2)
        .any(|w| STRING_TAGS.contains(&w[0]) && usize::from(w[1]) == value.len() && &w[2..] == value)
}

/// [`amazon_roots`] as one PEM bundle (what the trust store takes).
pub fn amazon_roots_pem() -> Vec<u8> {
    let mut pem = String::new();
    for cert in amazon_roots() {
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        let b64 = aws_smithy_types::base64::encode(cert);
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
    fn the_bundle_holds_the_five_amazon_roots_unchanged() {
        // GIVEN Mozilla's list WHEN the Amazon Trust Services roots are picked
        let roots = amazon_roots();
        // THEN each of the five names is found exactly once
        assert_eq!(roots.len(), AMAZON_TRUST_SERVICES_ROOTS.len());
        for cn in AMAZON_TRUST_SERVICES_ROOTS {
            assert_eq!(roots.iter().filter(|der| has_common_name(der, cn)).count(), 1, "{cn}");
        }
        // AND the name match is exact: "Amazon Root CA 1" is no prefix match of another
        assert!(!has_common_name(roots[0], "Amazon Root CA"));
        // AND written as PEM and read back, they are byte for byte the same
        let pem = amazon_roots_pem();
        let read: Vec<CertificateDer> = CertificateDer::pem_slice_iter(&pem).collect::<Result<_, _>>().unwrap();
        assert_eq!(read.len(), roots.len());
        assert!(read.iter().zip(&roots).all(|(a, b)| a.as_ref() == *b));
    }

    #[test]
    fn a_similar_name_is_not_an_amazon_root() {
        // GIVEN Mozilla's "Starfield Root Certificate Authority - G2" (not the Services one)
        let starfield = "Starfield Root Certificate Authority - G2";
        let other = webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().find(|c| has_common_name(c.as_ref(), starfield));
        // THEN it exists in the list but is not picked
        let other = other.expect("Mozilla lists Starfield Root G2").as_ref();
        assert!(!amazon_roots().contains(&other));
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
