//! SDK errors to [`PortError`]: the class a guard acts on, the code and message kept.

use aws_sdk_kms::config::http::HttpResponse;
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::ports::{PortError, PortErrorKind};

/// Classifies an SDK error of `operation` (`kms:PutKeyPolicy`) in `region`.
pub fn port_error<E>(operation: &str, region: &str, err: &SdkError<E, HttpResponse>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (kind, message) = match err {
        SdkError::ServiceError(service) => {
            let code = err.code().unwrap_or("UnknownError");
            let status = service.raw().status().as_u16();
            let message = match err.message() {
                Some(m) => format!("{code}: {m}"),
                None => code.to_owned(),
            };
            (classify(code, status), message)
        }
        SdkError::ConstructionFailure(_) => (
            PortErrorKind::Rejected,
            format!("request could not be built: {}", DisplayErrorContext(err)),
        ),
        _ => (
            PortErrorKind::Transient,
            DisplayErrorContext(err).to_string(),
        ),
    };
    PortError {
        operation: operation.to_owned(),
        region: region.to_owned(),
        kind,
        message,
    }
}

fn classify(code: &str, status: u16) -> PortErrorKind {
    match code {
        "NotFoundException" | "ResourceNotFoundException" => PortErrorKind::NotFound,
        "AccessDeniedException"
        | "AccessDenied"
        | "UnrecognizedClientException"
        | "InvalidSignatureException" => PortErrorKind::AccessDenied,
        "AlreadyExistsException" => PortErrorKind::AlreadyExists,
        "KMSInvalidStateException" | "DisabledException" | "ConflictException" => {
            PortErrorKind::InvalidState
        }
        "ThrottlingException"
        | "DependencyTimeoutException"
        | "KMSInternalException"
        | "InternalServerException"
        | "InternalFailure"
        | "ServiceUnavailable"
        | "RequestLimitExceeded"
        | "ProvisionedThroughputExceededException" => PortErrorKind::Transient,
        _ if status >= 500 => PortErrorKind::Transient,
        _ => PortErrorKind::Rejected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(classify("NotFoundException", 400), PortErrorKind::NotFound);
        assert_eq!(
            classify("KMSInvalidStateException", 400),
            PortErrorKind::InvalidState
        );
        assert_eq!(
            classify("MalformedPolicyDocumentException", 400),
            PortErrorKind::Rejected
        );
        assert_eq!(
            classify("ThrottlingException", 400),
            PortErrorKind::Transient
        );
        assert_eq!(classify("Whatever", 503), PortErrorKind::Transient);
        assert_eq!(
            classify("AlreadyExistsException", 400),
            PortErrorKind::AlreadyExists
        );
    }
}
