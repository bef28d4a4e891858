//! flink-rest and the binaries against a real Flink whose REST API speaks
//! TLS and requires client certificates (Flink's REST SSL with mutual auth).

use std::path::{Path, PathBuf};
use std::process::Command;

use flink_rest::{ClientConfig, FlinkClient};
use flink_testkit::{each_version, workspace_bin, ClusterBuilder};

/// A private CA, a server certificate for localhost, a client certificate,
/// and Flink's PKCS12 keystore and truststore, made with openssl and keytool.
struct Pki {
    dir: tempfile::TempDir,
}

const PASSWORD: &str = "flink-ops-test";
const MODERN_SUITES: &str =
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384";

fn sh(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let openssl = |args: &[&str]| sh(Command::new("openssl").current_dir(d).args(args));
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=flink-ops test CA",
        ]);
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        std::fs::write(d.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
        for (name, cn) in [("server", "localhost"), ("client", "flink-ops client")] {
            openssl(&[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={cn}"),
            ]);
            openssl(&[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &format!("{name}.pem"),
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
            ]);
        }
        openssl(&[
            "pkcs12",
            "-export",
            "-in",
            "server.pem",
            "-inkey",
            "server.key",
            "-name",
            "flink",
            "-out",
            "keystore.p12",
            "-passout",
            &format!("pass:{PASSWORD}"),
        ]);
        sh(Command::new("keytool").current_dir(d).args([
            "-importcert",
            "-noprompt",
            "-alias",
            "ca",
            "-file",
            "ca.pem",
            "-keystore",
            "truststore.p12",
            "-storetype",
            "PKCS12",
            "-storepass",
            PASSWORD,
        ]));
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn client(url: &url::Url, ca: Option<&Path>, identity: Option<(&Path, &Path)>) -> FlinkClient {
    let mut config = ClientConfig::new(url.clone());
    config.retry = flink_rest::RetryPolicy::none();
    config.ca_cert = ca.map(Path::to_path_buf);
    config.client_identity = identity.map(|(c, k)| (c.to_path_buf(), k.to_path_buf()));
    FlinkClient::new(config).unwrap()
}

#[each_version(flavor = "multi_thread")]
async fn mutual_tls(version: &str) {
    let pki = Pki::new();
    let (ca, cert, key) = (
        pki.path("ca.pem"),
        pki.path("client.pem"),
        pki.path("client.key"),
    );
    let cluster = ClusterBuilder::new(version)
        .config("security.ssl.rest.enabled", "true")
        .config("security.ssl.rest.authentication-enabled", "true")
        .config(
            "security.ssl.rest.keystore",
            pki.path("keystore.p12").display().to_string(),
        )
        .config("security.ssl.rest.keystore-password", PASSWORD)
        .config("security.ssl.rest.key-password", PASSWORD)
        .config(
            "security.ssl.rest.truststore",
            pki.path("truststore.p12").display().to_string(),
        )
        .config("security.ssl.rest.truststore-password", PASSWORD)
        // Flink 1.x offers only TLS_RSA_WITH_AES_128_CBC_SHA by default, which
        // rustls (like current browsers) refuses: users of 1.x set this too.
        .config("security.ssl.algorithms", MODERN_SUITES)
        .https(ca.clone(), Some((cert.clone(), key.clone())))
        .start()
        .await;
    let url = cluster.url();
    assert_eq!(url.scheme(), "https");

    // With the CA and a client certificate: a normal conversation.
    let good = client(url, Some(&ca), Some((&cert, &key)));
    assert_eq!(good.version().await.unwrap().to_string(), version);
    assert_eq!(good.task_managers().await.unwrap().len(), 1);

    // Without our CA the server is not trusted; without a client certificate Flink refuses us.
    let err = client(url, None, Some((&cert, &key)))
        .overview()
        .await
        .unwrap_err();
    assert!(err.is_unreachable(), "{err}");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    let err = client(url, Some(&ca), None).overview().await.unwrap_err();
    assert!(err.is_unreachable(), "{err}");

    // The binaries take the same settings from flags.
    let out = Command::new(workspace_bin("flink-deploy"))
        .args([
            "status",
            "--output",
            "json",
            "--jobmanager-url",
            url.as_str(),
            "--ca-cert",
        ])
        .arg(&ca)
        .arg("--client-cert")
        .arg(&cert)
        .arg("--client-key")
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"jobs\""));
    let out = Command::new(workspace_bin("flink-deploy"))
        .args(["status", "--jobmanager-url", url.as_str()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
