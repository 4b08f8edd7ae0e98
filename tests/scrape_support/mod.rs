//! Synthetic scrape targets for end-to-end tests: a tiny HTTP/1.1 server on
//! 127.0.0.1 whose paths answer with a body, a status, a redirect, or never.

#![allow(dead_code)] // each test binary uses a different subset

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How one path answers.
#[derive(Clone, Debug)]
pub enum Reply {
    /// 200 with this content type and body.
    Body(&'static str, String),
    /// This status and a short body.
    Status(u16),
    /// A 302 to this path.
    Redirect(String),
    /// Accepts the request and never answers.
    Hang,
}

/// The running server; paths can be changed while it runs.
#[derive(Clone)]
pub struct Targets {
    pub address: String,
    replies: Arc<Mutex<HashMap<String, Reply>>>,
}

pub const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

impl Targets {
    pub fn start() -> Targets {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind synthetic targets");
        let address = listener.local_addr().expect("local address").to_string();
        let replies: Arc<Mutex<HashMap<String, Reply>>> = Arc::default();
        let shared = replies.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let replies = shared.clone();
                std::thread::spawn(move || serve(stream, &replies));
            }
        });
        Targets { address, replies }
    }

    pub fn set(&self, path: &str, reply: Reply) {
        self.replies.lock().unwrap().insert(path.to_string(), reply);
    }
}

fn serve(stream: TcpStream, replies: &Mutex<HashMap<String, Reply>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => return,
            Ok(_) if header == "\r\n" => break,
            Ok(_) => {}
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let path = path.split('?').next().unwrap_or("/").to_string();
    let reply = replies
        .lock()
        .unwrap()
        .get(&path)
        .cloned()
        .unwrap_or(Reply::Status(404));
    let mut stream = stream;
    let response = match reply {
        Reply::Body(content_type, body) => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
        Reply::Status(code) => format!(
            "HTTP/1.1 {code} Status {code}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nerror"
        ),
        Reply::Redirect(to) => format!(
            "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
        Reply::Hang => {
            std::thread::sleep(Duration::from_secs(60));
            return;
        }
    };
    let _ = stream.write_all(response.as_bytes());
}
