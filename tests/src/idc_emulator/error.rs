//! The errors the emulator returns, in the awsJson1.1 shape the SDK deserialises: the code in
//! `__type` (and the `x-amzn-ErrorType` header), the text in `Message` (the SDK's typed error
//! deserialisers read `Message`, capitalised) and, for the four exceptions that have one, a
//! `Reason` such as `KMS_DisabledException`.

/// An sso-admin error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Bad input, including KMS key problems (with a `Reason`).
    Validation,
    /// Not allowed; also our answer to a management call outside the primary Region.
    AccessDenied,
    /// The instance, Region or KMS key does not exist (as seen from the caller's Region).
    ResourceNotFound,
    /// Another change is in progress (one Region workflow at a time, encryption updating).
    Conflict,
    /// KMS throttled the key check.
    Throttling,
    /// The emulator could not do its job (KMS endpoint unreachable, ...).
    InternalServer,
    /// `X-Amz-Target` names no operation the emulator serves.
    UnknownOperation,
    /// No SigV4 `Authorization` header: the caller's Region is unknown.
    MissingAuthenticationToken,
    /// An `Authorization` header without a readable credential scope.
    IncompleteSignature,
}

impl ErrorCode {
    /// The `__type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Validation => "ValidationException",
            Self::AccessDenied => "AccessDeniedException",
            Self::ResourceNotFound => "ResourceNotFoundException",
            Self::Conflict => "ConflictException",
            Self::Throttling => "ThrottlingException",
            Self::InternalServer => "InternalServerException",
            Self::UnknownOperation => "UnknownOperationException",
            Self::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            Self::IncompleteSignature => "IncompleteSignatureException",
        }
    }

    /// The HTTP status. awsJson1.1 services answer client errors with 400 whatever the code
    /// (the SDK keys on `__type`, not on the status); 403 for the signature errors as the AWS
    /// front end does; 500 only for our own failures, which the SDK treats as retryable.
    pub fn status(self) -> u16 {
        match self {
            Self::MissingAuthenticationToken | Self::IncompleteSignature => 403,
            Self::InternalServer => 500,
            _ => 400,
        }
    }
}

/// One error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The code.
    pub code: ErrorCode,
    /// A message naming the operation, member or resource concerned.
    pub message: String,
    /// The `Reason` member (`KMS_DisabledException`, ...), when there is one.
    pub reason: Option<&'static str>,
}

impl ApiError {
    /// An error without a `Reason`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            reason: None,
        }
    }

    /// Adds the `Reason` member.
    pub fn with_reason(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self
    }

    /// `ValidationException`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Validation, message)
    }

    /// `ResourceNotFoundException`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ResourceNotFound, message)
    }

    /// `ConflictException`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({
            "__type": self.code.as_str(),
            "Message": self.message,
        });
        if let (Some(reason), Some(obj)) = (self.reason, body.as_object_mut()) {
            obj.insert("Reason".to_owned(), reason.into());
        }
        body
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)?;
        if let Some(reason) = self.reason {
            write!(f, " (Reason {reason})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}
