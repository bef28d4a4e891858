//! The GCE metadata stand-in as a server of its own, for tests that run the toolkit in
//! containers: one stand-in container plays the metadata server of every "instance" on a
//! Docker network.
//!
//! Like the real server, it answers each instance about itself: the first request from a client
//! address starts a [`MetadataStandin`] for that instance, serving the template tree with
//! `instance/network-interfaces/0/ip` set to the client's address and `instance/name` (and
//! `hostname`) suffixed with it; the connection is then relayed to that stand-in.
//!
//! ```text
//! gce-metadata-standin --listen 0.0.0.0:80 --tree /standin/tree.json
//! ```
//!
//! `--tree` is the JSON of `/computeMetadata/v1/?recursive=true` (e.g. from
//! [`gce_metadata_standin::GceTree::build`]); without it, a default tree for instance `vm`.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use gce_metadata_standin::{GceTree, MetadataStandin};
use serde_json::Value;

const USAGE: &str =
    "usage: gce-metadata-standin [--listen ADDR (default 0.0.0.0:80)] [--tree FILE]";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("gce-metadata-standin: {message}\n{USAGE}");
            ExitCode::from(64)
        }
    }
}

fn run() -> Result<(), String> {
    let mut listen = "0.0.0.0:80".to_owned();
    let mut tree = GceTree::new("vm", "0.0.0.0").build();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--listen" => listen = value()?,
            "--tree" => {
                let path = value()?;
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {path}: {e}"))?;
                tree = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let listener =
        TcpListener::bind(&listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    eprintln!("gce-metadata-standin: listening on {listen}");
    let instances: Arc<Mutex<HashMap<IpAddr, MetadataStandin>>> = Arc::default();
    for client in listener.incoming() {
        let Ok(client) = client else { continue };
        let Ok(peer) = client.peer_addr() else {
            continue;
        };
        let backend = match instance_for(&instances, &tree, peer) {
            Ok(addr) => addr,
            Err(e) => {
                eprintln!("gce-metadata-standin: cannot start the stand-in for {peer}: {e}");
                continue;
            }
        };
        std::thread::spawn(move || {
            if let Err(e) = relay(client, backend) {
                eprintln!("gce-metadata-standin: relaying {peer}: {e}");
            }
        });
    }
    Ok(())
}

/// The address of the stand-in answering for the instance at `peer`, started on first contact.
fn instance_for(
    instances: &Mutex<HashMap<IpAddr, MetadataStandin>>,
    template: &Value,
    peer: SocketAddr,
) -> io::Result<SocketAddr> {
    let mut instances = instances.lock().expect("instances lock");
    if let Some(standin) = instances.get(&peer.ip()) {
        return Ok(standin.addr());
    }
    let tree = tree_for(template, peer.ip());
    eprintln!(
        "gce-metadata-standin: instance {} at {}",
        tree["instance"]["name"].as_str().unwrap_or("?"),
        peer.ip()
    );
    let standin = MetadataStandin::start(tree)?;
    let addr = standin.addr();
    instances.insert(peer.ip(), standin);
    Ok(addr)
}

/// The template with the client's own address and an instance name that includes it.
fn tree_for(template: &Value, ip: IpAddr) -> Value {
    let mut tree = template.clone();
    let suffix = ip.to_string().replace(['.', ':'], "-");
    let instance = &mut tree["instance"];
    if let Some(name) = instance["name"].as_str() {
        let name = format!("{name}-{suffix}");
        if let Some(hostname) = instance["hostname"].as_str() {
            let domain = hostname.split_once('.').map_or("", |(_, d)| d);
            instance["hostname"] = Value::String(format!("{name}.{domain}"));
        }
        instance["name"] = Value::String(name);
    }
    if let Some(interface) = instance["networkInterfaces"]
        .get_mut(0)
        .and_then(Value::as_object_mut)
    {
        interface.insert("ip".into(), Value::String(ip.to_string()));
    }
    tree
}

/// Copies bytes both ways until either side closes.
fn relay(client: TcpStream, backend: SocketAddr) -> io::Result<()> {
    let server = TcpStream::connect(backend)?;
    let (mut client_read, mut server_write) = (client.try_clone()?, server.try_clone()?);
    let upstream = std::thread::spawn(move || {
        let _ = io::copy(&mut client_read, &mut server_write);
        let _ = server_write.shutdown(std::net::Shutdown::Write);
    });
    let (mut server_read, mut client_write) = (server, client);
    let _ = io::copy(&mut server_read, &mut client_write);
    let _ = client_write.shutdown(std::net::Shutdown::Write);
    let _ = upstream.join();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_instance_sees_its_own_address_and_name() {
        let template = GceTree::new("flink-tm", "10.0.0.1").build();
        let tree = tree_for(&template, "172.18.0.5".parse().unwrap());
        assert_eq!(tree["instance"]["networkInterfaces"][0]["ip"], "172.18.0.5");
        assert_eq!(tree["instance"]["name"], "flink-tm-172-18-0-5");
        assert_eq!(
            tree["instance"]["hostname"],
            "flink-tm-172-18-0-5.europe-west1-b.c.my-project.internal"
        );
        assert_eq!(tree["project"], template["project"]);
    }
}
