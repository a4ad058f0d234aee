//! The HTTP face of the emulator: `POST /bot<TOKEN>/<method>` with JSON, form or multipart
//! parameters, long polling, and error responses shaped like the real API's.

use super::*;

pub(super) async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Some((token, method_name)) = parts
        .uri
        .path()
        .strip_prefix("/bot")
        .and_then(|rest| rest.split_once('/'))
    else {
        return failure_response(Failure::api(404, "Not Found"));
    };
    if token != shared.lock().token {
        return failure_response(Failure::api(401, "Unauthorized"));
    }
    let Some(method) = canonical_method(method_name) else {
        return failure_response(Failure::api(404, "Not Found"));
    };
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(_) => return failure_response(Failure::bad_request("can't read the request body")),
    };
    let params = match parse_params(&parts.headers, parts.uri.query(), &body) {
        Ok(params) => params,
        Err(failure) => return failure_response(failure),
    };

    let (index, method_fault) = {
        let mut state = shared.lock();
        let index = state.record_call(method, &params);
        let fault = state
            .method_faults
            .get_mut(method)
            .and_then(VecDeque::pop_front);
        (index, fault.map(|fault| state.apply_fault(fault, None)))
    };
    let delay = {
        let mut state = shared.lock();
        let chat = state.chat_param(&params).ok();
        chat.and_then(|chat| state.delays.remove(&(method.to_owned(), chat)))
    };
    if let Some(delay) = delay {
        shared.activity.notify_waiters();
        tokio::time::sleep(delay).await;
    }
    let outcome = match method_fault {
        Some(failure) => Err(failure),
        None if method == "getUpdates" => get_updates(&shared, &params).await,
        None => shared.lock().dispatch(method, &params),
    };
    if let Err(Failure::Api { description, .. }) = &outcome {
        shared.lock().calls[index].error = Some(description.clone());
    }
    shared.activity.notify_waiters();

    match outcome {
        Ok(result) => Json(json!({ "ok": true, "result": result })).into_response(),
        Err(Failure::Hang) => hang_until_shutdown(shared.shutdown.clone()).await,
        Err(failure) => failure_response(failure),
    }
}

/// Long polling: answers as soon as updates are deliverable or `timeout` passes; a
/// newer `getUpdates` call ends an older waiting one with 409 Conflict.
pub(super) async fn get_updates(shared: &Shared, params: &Params) -> Outcome {
    let limit = param_i64(params, "limit").unwrap_or(100).clamp(1, 100) as usize;
    let timeout = Duration::from_secs(param_i64(params, "timeout").unwrap_or(0).max(0) as u64);
    let allowed = params
        .get("allowed_updates")
        .and_then(Value::as_array)
        .map(|kinds| {
            kinds
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        });
    let generation = {
        let mut state = shared.lock();
        state.poll_generation += 1;
        if let Some(allowed) = allowed {
            state.allowed_updates = allowed;
        }
        state.confirm_updates(param_i64(params, "offset"));
        state.poll_generation
    };
    shared.updates_changed.notify_waiters();

    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let notified = shared.updates_changed.notified();
        let mut notified = std::pin::pin!(notified);
        notified.as_mut().enable();
        {
            let mut state = shared.lock();
            if state.poll_generation != generation {
                return Err(Failure::api(409, CONFLICT));
            }
            let updates = state.deliverable_updates(limit);
            if !updates.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(Value::Array(updates));
            }
        }
        let _ = tokio::time::timeout_at(deadline, notified).await;
    }
}

/// Holds the request until the emulator is dropped, then cuts the connection without
/// answering: unwinding out of the connection task (with `resume_unwind`, which runs
/// no panic hook and so prints nothing) makes the server close the socket.
pub(super) async fn hang_until_shutdown(mut shutdown: watch::Receiver<()>) -> Response {
    while shutdown.changed().await.is_ok() {}
    std::panic::resume_unwind(Box::new(
        "Bot API emulator dropped while a request was hanging",
    ))
}

pub(super) fn failure_response(failure: Failure) -> Response {
    let (code, description, parameters) = match failure {
        Failure::Api {
            code,
            description,
            parameters,
        } => (code, description, parameters),
        Failure::BadGateway => {
            let page = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
                        <center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n\
                        </body>\r\n</html>\r\n";
            return (
                StatusCode::BAD_GATEWAY,
                [(header::CONTENT_TYPE, "text/html")],
                page,
            )
                .into_response();
        }
        Failure::Hang => unreachable!("a hanging request gets no response"),
    };
    let mut body = json!({ "ok": false, "error_code": code, "description": description });
    if let Some(parameters) = parameters {
        body["parameters"] = parameters;
    }
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    (status, Json(body)).into_response()
}

/// Method names are case-insensitive, as in the real API.
pub(super) fn canonical_method(name: &str) -> Option<&'static str> {
    METHODS
        .iter()
        .copied()
        .find(|method| method.eq_ignore_ascii_case(name))
}

/// Query string plus a JSON, form-urlencoded or multipart body. Form and multipart
/// values holding JSON objects, arrays or booleans are decoded.
pub(super) fn parse_params(
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Result<Params, Failure> {
    let mut params = Params::new();
    if let Some(query) = query {
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            params.insert(name.into_owned(), loose_value(&value));
        }
    }
    if body.is_empty() {
        return Ok(params);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with("application/json") {
        match serde_json::from_slice(body) {
            Ok(Value::Object(object)) => params.extend(object),
            _ => return Err(Failure::bad_request("can't parse JSON object")),
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        for (name, value) in url::form_urlencoded::parse(body) {
            params.insert(name.into_owned(), loose_value(&value));
        }
    } else if content_type.starts_with("multipart/form-data") {
        // The boundary is case-sensitive: take it from the header as sent.
        let sent_type = headers[header::CONTENT_TYPE].to_str().unwrap_or_default();
        let boundary = sent_type
            .split(';')
            .map(str::trim)
            .find(|part| {
                part.get(..9)
                    .is_some_and(|name| name.eq_ignore_ascii_case("boundary="))
            })
            .map(|part| part[9..].trim_matches('"'))
            .ok_or_else(|| Failure::bad_request("multipart boundary is missing"))?;
        for (name, value) in multipart_fields(body, boundary) {
            params.insert(name, loose_value(&value));
        }
    } else {
        return Err(Failure::bad_request(format!(
            "unsupported Content-Type {content_type:?}"
        )));
    }
    Ok(params)
}

pub(super) fn loose_value(text: &str) -> Value {
    let trimmed = text.trim_start();
    let looks_like_json =
        trimmed.starts_with('{') || trimmed.starts_with('[') || text == "true" || text == "false";
    if looks_like_json && let Ok(value) = serde_json::from_str(text) {
        return value;
    }
    Value::String(text.to_owned())
}

/// The named parts of a multipart body, as (lossy) text.
pub(super) fn multipart_fields(body: &[u8], boundary: &str) -> Vec<(String, String)> {
    let body = String::from_utf8_lossy(body);
    let delimiter = format!("--{boundary}");
    body.split(delimiter.as_str())
        .filter_map(|part| {
            let part = part.strip_prefix("\r\n")?;
            let (head, value) = part.split_once("\r\n\r\n")?;
            let disposition = head
                .lines()
                .find(|line| line.to_ascii_lowercase().starts_with("content-disposition"))?;
            let name = disposition
                .split(';')
                .find_map(|p| p.trim().strip_prefix("name="))?;
            let value = value.strip_suffix("\r\n").unwrap_or(value);
            Some((name.trim_matches('"').to_owned(), value.to_owned()))
        })
        .collect()
}

pub(super) fn param_str(params: &Params, name: &str) -> Option<String> {
    match params.get(name)? {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

pub(super) fn param_i64(params: &Params, name: &str) -> Option<i64> {
    match params.get(name)? {
        Value::Number(number) => number.as_i64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

pub(super) fn param_bool(params: &Params, name: &str) -> bool {
    match params.get(name) {
        Some(Value::Bool(flag)) => *flag,
        Some(Value::String(text)) => text == "true" || text == "1",
        Some(Value::Number(number)) => number.as_i64() == Some(1),
        _ => false,
    }
}

pub(super) fn unix_now() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(since_epoch.as_secs()).expect("Unix time fits in i64")
}
