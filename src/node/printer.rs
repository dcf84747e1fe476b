//! The demo's output (`vigia run --print-events`): one readable line per event the broker
//! acknowledged.

use tokio::sync::mpsc;
use vigia_core::event::{
    AlertEvent, CameraStatusEvent, IncidentEvent, Lifecycle, LprEvent, ObjectEvent,
};
use vigia_core::{Event, EventPayload};
use vigia_publish::AckedMessage;

/// Prints every acknowledged message until the publisher is gone.
#[allow(clippy::print_stdout)]
pub async fn print_acked(mut rx: mpsc::Receiver<AckedMessage>) -> anyhow::Result<()> {
    while let Some(m) = rx.recv().await {
        println!("{}", describe_acked(&m));
    }
    Ok(())
}

/// One line for an acknowledged message.
pub fn describe_acked(m: &AckedMessage) -> String {
    let (time, camera, what) = match serde_json::from_slice::<Event>(&m.payload) {
        Ok(e) => (
            e.utc_time.format("%H:%M:%S%.3f").to_string(),
            e.camera.as_ref().map_or("-", |c| c.as_str()).to_string(),
            describe(&e.payload),
        ),
        // Not an event: the ONVIF mirror, a picture on the snapshot topic.
        Err(_) => ("-".to_string(), "-".to_string(), m.kind.clone()),
    };
    format!(
        "{time} {camera:<12} {:<13} {what}   [acked in {} ms]",
        m.kind,
        m.latency.as_millis()
    )
}

fn describe(p: &EventPayload) -> String {
    match p {
        EventPayload::Object(o) => object(o),
        EventPayload::Lpr(l) => lpr(l),
        EventPayload::Incident(i) => incident(i),
        EventPayload::Alert(a) => alert(a),
        EventPayload::CameraStatus(s) => status(s),
    }
}

fn object(o: &ObjectEvent) -> String {
    let b = &o.bbox;
    format!(
        "{:<3} {} #{} {:.2} at x={:.2} y={:.2} w={:.2} h={:.2}{}",
        o.lifecycle.as_str(),
        o.class,
        o.track_id,
        o.likelihood,
        b.x,
        b.y,
        b.w,
        b.h,
        if o.lifecycle == Lifecycle::End {
            format!(" after {:.1} s", o.duration_ms as f64 / 1000.0)
        } else {
            String::new()
        }
    )
}

fn lpr(l: &LprEvent) -> String {
    let p = &l.plate;
    format!(
        "{:<6} {} {}{} {:.2} reads={}{}{}{}",
        l.lifecycle.as_str(),
        p.number,
        p.format.as_deref().unwrap_or("-"),
        p.color.map_or(String::new(), |c| format!("/{c}")),
        p.likelihood,
        l.reads,
        l.vehicle
            .as_ref()
            .map_or(String::new(), |v| format!(" on {}", v.kind)),
        l.direction
            .as_ref()
            .map_or(String::new(), |d| format!(" going {}", d.travel)),
        if l.hotlist.matched {
            format!("  HOTLIST {}", l.hotlist.list.as_deref().unwrap_or("?"))
        } else {
            String::new()
        }
    )
}

fn incident(i: &IncidentEvent) -> String {
    let objects: Vec<String> = i
        .objects
        .iter()
        .map(|o| format!("{} #{}", o.class, o.track_id))
        .collect();
    let mut extra = String::new();
    if let Some(d) = i.direction {
        extra.push_str(&format!(" {d}"));
    }
    if let Some(c) = i.count {
        extra.push_str(&format!(" count={c}"));
    }
    if let Some(c) = &i.classifier {
        extra.push_str(&format!(" {}={:.2}", c.label, c.score));
    }
    format!(
        "{:<6} {} \"{}\" {}{extra} [{}] {:.1} s",
        i.lifecycle.as_str(),
        i.kind,
        i.rule,
        i.severity,
        objects.join(", "),
        i.duration_ms as f64 / 1000.0
    )
}

fn alert(a: &AlertEvent) -> String {
    format!("!!! {}", a.summary)
}

fn status(s: &CameraStatusEvent) -> String {
    format!(
        "{}{}{}",
        s.state.as_str(),
        s.decoder
            .as_deref()
            .map_or(String::new(), |d| format!(" ({d})")),
        s.reason
            .as_deref()
            .map_or(String::new(), |r| format!(": {r}"))
    )
}
