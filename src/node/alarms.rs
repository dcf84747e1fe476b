//! Alarm inputs of the node (docs/alarms.md): an MQTT subscription on the node's broker
//! (`alarms.mqtt_topic`) and `POST /api/v1/alarms/{input}`. Both parse the trigger, count
//! it (`vigia_alarm_triggers_total`), debounce it per input and hand it to analytics, which
//! raises the `alarm` incidents. A bad payload is logged (rate-limited) and counted; it
//! never stops or blocks the node.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event as MqttEvent, Packet, QoS};
use tokio::sync::mpsc;
use vigia_analytics::alarms::{Debounce, TriggerResult, parse_mqtt, truncate};
use vigia_analytics::{AlarmInput, AlarmTrigger, AlarmsConfig, Input};
use vigia_core::Shutdown;
use vigia_publish::{BrokerLink, PublisherSettings};
use vigia_telemetry::Metrics;

use crate::config::Config;

use super::guard::Access;
use super::stop::Stop;
use super::tasks::Supervisor;

/// Where triggers go: debounce, metrics, the analytics channel (closed when the node
/// stops, before analytics drains).
pub struct AlarmGate {
    cfg: AlarmsConfig,
    debounce: Mutex<Debounce>,
    analytics: Mutex<Option<mpsc::Sender<Input>>>,
    metrics: Arc<Metrics>,
    /// The HTTP input is refused when the API has no token (anyone could raise alarms).
    pub http_allowed: bool,
    rejected: AtomicU64,
}

impl AlarmGate {
    pub fn new(
        cfg: AlarmsConfig,
        analytics: mpsc::Sender<Input>,
        metrics: Arc<Metrics>,
        http_allowed: bool,
    ) -> Self {
        Self {
            debounce: Mutex::new(Debounce::new(Duration::from_secs(cfg.debounce_secs))),
            cfg,
            analytics: Mutex::new(Some(analytics)),
            metrics,
            http_allowed,
            rejected: AtomicU64::new(0),
        }
    }

    /// The configured input with this id.
    pub fn input(&self, id: &str) -> Option<&AlarmInput> {
        self.cfg.input(id)
    }

    /// A trigger of `input`: raised (handed to analytics) unless debounced.
    pub async fn offer(
        &self,
        input: AlarmInput,
        via: &'static str,
        message: Option<String>,
    ) -> TriggerResult {
        let admitted = self
            .debounce
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .admit(&input.id, Instant::now());
        let result = if admitted {
            let tx = self
                .analytics
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            tracing::warn!(input = %input.id, via, cameras = input.cameras.len(), "alarm triggered");
            let trigger = AlarmTrigger {
                input: input.clone(),
                via,
                message,
                at: chrono::Utc::now(),
                after: Duration::from_secs(self.cfg.snapshot_after_secs),
            };
            match tx {
                Some(tx) if tx.send(Input::Alarm(Box::new(trigger))).await.is_ok() => {
                    TriggerResult::Raised
                }
                // The node is stopping: nothing can raise it any more.
                _ => return TriggerResult::Debounced,
            }
        } else {
            TriggerResult::Debounced
        };
        self.count(&input.id, result);
        result
    }

    /// A payload that raised nothing: counted, and logged (the first and then every
    /// 100th, so a flood of garbage cannot flood the log).
    pub fn reject(&self, result: TriggerResult, why: &str, via: &'static str) {
        self.count("", result);
        let n = self.rejected.fetch_add(1, Ordering::Relaxed);
        if n.is_multiple_of(100) {
            tracing::warn!(via, result = result.as_str(), %why, rejected = n + 1, "alarm payload ignored");
        }
    }

    fn count(&self, input: &str, result: TriggerResult) {
        self.metrics
            .alarm_triggers
            .with_label_values(&[input, result.as_str()])
            .inc();
    }

    /// Stops handing triggers to analytics (the node is stopping).
    fn close(&self) {
        self.analytics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }
}

/// Starts the alarm inputs when any is configured: the gate (for the HTTP handler) and the
/// step that stops them (before analytics, so its channel can close).
pub(super) fn spawn(
    sup: &Supervisor,
    node: &Config,
    publisher: &PublisherSettings,
    analytics: &mpsc::Sender<Input>,
    metrics: &Arc<Metrics>,
    access: &Access,
) -> (Option<Arc<AlarmGate>>, Stop) {
    let cfg = &node.alarms;
    if cfg.inputs.is_empty() {
        return (None, Stop::Join(Vec::new()));
    }
    let (link, client_id) = (publisher.broker.clone(), publisher.client_id.clone());
    let gate = Arc::new(AlarmGate::new(
        cfg.clone(),
        analytics.clone(),
        metrics.clone(),
        access.has_token(),
    ));
    let stop = Shutdown::new();
    let mut tasks = Vec::new();
    if !cfg.mqtt_topic.is_empty() {
        let listen = listen_mqtt(gate.clone(), link, client_id, stop.clone());
        tasks.push(sup.spawn("alarms (mqtt)", listen));
    }
    let closing = gate.clone();
    let step = Stop::Async(Box::pin(async move {
        stop.cancel();
        for t in tasks {
            t.join().await;
        }
        closing.close();
    }));
    (Some(gate), step)
}

/// Subscribes to `alarms.mqtt_topic` on the node's broker (again after every reconnect)
/// and offers each message to the gate.
async fn listen_mqtt(
    gate: Arc<AlarmGate>,
    link: BrokerLink,
    client_id: String,
    stop: Shutdown,
) -> anyhow::Result<()> {
    let topic = gate.cfg.mqtt_topic.clone();
    let mut options = link.options(&format!("{client_id}-alarms"));
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut eventloop) = AsyncClient::new(options, 64);
    let mut logged_down = false;
    loop {
        let ev = tokio::select! {
            ev = eventloop.poll() => ev,
            _ = stop.cancelled() => break,
        };
        match ev {
            Ok(MqttEvent::Incoming(Packet::ConnAck(_))) => {
                logged_down = false;
                tracing::info!(broker = %link.address(), %topic, "listening for alarm triggers");
                if let Err(e) = client.try_subscribe(topic.clone(), QoS::AtLeastOnce) {
                    tracing::error!(error = %e, %topic, "cannot subscribe to alarm triggers");
                }
            }
            Ok(MqttEvent::Incoming(Packet::Publish(p))) => {
                match parse_mqtt(&gate.cfg, &p.topic, &p.payload) {
                    Ok((input, message)) => {
                        gate.offer(input, "mqtt", message).await;
                    }
                    Err((result, why)) => gate.reject(result, &why, "mqtt"),
                }
            }
            Ok(_) => {}
            Err(e) => {
                if !logged_down {
                    tracing::warn!(broker = %link.address(), error = %e, "alarm input: cannot reach the broker; retrying");
                    logged_down = true;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.cancelled() => break,
                }
            }
        }
    }
    let _ = client.try_disconnect();
    Ok(())
}

/// `POST /api/v1/alarms/{input}`: triggers the input. The body may be empty or a JSON
/// object with a `message` text. 202 with `{input, result}` (`raised` or `debounced`);
/// 404 for an input not configured, 400 for a body that is not such an object, 403 when
/// the API has no token.
pub async fn http_trigger(
    axum::extract::State(s): axum::extract::State<super::http::HttpState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::Json;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let fail = |code: StatusCode, error: String| {
        (code, Json(serde_json::json!({ "error": error }))).into_response()
    };
    let Some(gate) = s.alarms.clone() else {
        return fail(
            StatusCode::NOT_FOUND,
            "no alarm inputs are configured".into(),
        );
    };
    if !gate.http_allowed {
        return fail(
            StatusCode::FORBIDDEN,
            "alarm triggers over HTTP need the API token (telemetry.http_token_env or http_token_file)".into(),
        );
    }
    let Some(input) = gate.input(&id).cloned() else {
        gate.reject(TriggerResult::UnknownInput, "unknown input", "http");
        return fail(
            StatusCode::NOT_FOUND,
            format!(
                "no alarm input {:?} is configured",
                id.chars().take(64).collect::<String>()
            ),
        );
    };
    let message = match message_of(&body) {
        Ok(m) => m,
        Err(why) => {
            gate.reject(TriggerResult::BadPayload, &why, "http");
            return fail(StatusCode::BAD_REQUEST, why);
        }
    };
    let result = gate.offer(input, "http", message).await;
    (
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "input": id, "result": result.as_str() })),
    )
        .into_response()
}

/// The `message` of an HTTP trigger's body: empty, or a JSON object.
fn message_of(body: &[u8]) -> Result<Option<String>, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(o)) => Ok(match o.get("message") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(m)) => Some(truncate(m).to_string()),
            Some(other) => Some(truncate(&other.to_string()).to_string()),
        }),
        Ok(_) => Err("the body must be a JSON object, e.g. {\"message\": \"...\"}".into()),
        Err(e) => Err(format!("the body is not JSON: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_bodies_are_empty_or_an_object_with_a_message() {
        assert_eq!(message_of(b"").unwrap(), None);
        assert_eq!(message_of(b" \n").unwrap(), None);
        assert_eq!(
            message_of(br#"{"message":"robo"}"#).unwrap().as_deref(),
            Some("robo")
        );
        assert_eq!(message_of(br#"{"other":1}"#).unwrap(), None);
        assert!(message_of(b"[1]").unwrap_err().contains("JSON object"));
        assert!(message_of(b"{oops").unwrap_err().contains("not JSON"));
    }
}
