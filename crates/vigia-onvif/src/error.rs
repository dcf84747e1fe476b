//! The ONVIF client's error type. Messages name the device URL and the operation, never a
//! password.

/// Why an ONVIF call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OnvifError {
    #[error("bad ONVIF device address {url:?}: {message}")]
    Address { url: String, message: String },
    #[error("{url}: cannot connect: {message}")]
    Connect { url: String, message: String },
    #[error("{url}: no answer within {secs} s")]
    Timeout { url: String, secs: u64 },
    #[error("{operation} at {url}: HTTP {status} without a SOAP answer")]
    Http {
        operation: String,
        url: String,
        status: u16,
    },
    #[error(
        "{operation}: the device refused the credentials (check the username and password; vigia already corrects for the device's clock)"
    )]
    NotAuthorized { operation: String },
    #[error(
        "{operation}: the device needs credentials (set username and password_env or password_file)"
    )]
    NeedsCredentials { operation: String },
    #[error("{operation}: the device answered with a fault: {code}: {reason}")]
    Fault {
        operation: String,
        code: String,
        reason: String,
    },
    #[error("{operation}: unreadable answer: {message}")]
    BadAnswer { operation: String, message: String },
    #[error("no media profile named {wanted:?} (the device has: {available})")]
    NoProfile { wanted: String, available: String },
    #[error("the device has no media profile with video")]
    NoVideoProfile,
}
