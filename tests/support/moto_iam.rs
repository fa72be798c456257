//! Authentication and users on a [`Moto`]: IAM users with access keys and inline policies,
//! made with IAM's query API (signed form POSTs), and the switch that makes moto check every
//! request (moto's `POST /moto-api/reset-auth`). Once it is on, every request must be signed
//! with the key of an IAM user that moto knows and that may do what it asks; the helpers sign
//! with an administrator's key that [`Moto::enable_auth`] makes for them first.

use bytes::Bytes;

use super::{aws_encode, signed_request, xml_text, Credentials, Moto};

impl Moto {
    /// An IAM action (query API, form-encoded POST) with the helpers' key; moto's XML answer.
    async fn iam(&self, action: &str, params: &[(&str, &str)]) -> String {
        let mut form = format!("Action={action}&Version=2010-05-08");
        for (name, value) in params {
            form.push_str(&format!("&{name}={}", aws_encode(value, false)));
        }
        let headers = [(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )];
        let (parts, body) = signed_request(
            self.addr,
            &self.admin(),
            "iam",
            "POST",
            "/",
            &headers,
            form.into(),
        )
        .await;
        self.check("POST", &format!("/ (IAM {action})"), &parts, &body);
        String::from_utf8_lossy(&body).into_owned()
    }

    /// Creates IAM user `name` with the inline policy `policy` (a JSON policy document, or
    /// none) and returns a new access key of theirs.
    pub async fn create_user(&self, name: &str, policy: Option<&str>) -> Credentials {
        self.iam("CreateUser", &[("UserName", name)]).await;
        if let Some(policy) = policy {
            let params = [
                ("UserName", name),
                ("PolicyName", "tests"),
                ("PolicyDocument", policy),
            ];
            self.iam("PutUserPolicy", &params).await;
        }
        let answer = self.iam("CreateAccessKey", &[("UserName", name)]).await;
        let field = |tag| {
            xml_text(&answer, tag)
                .unwrap_or_else(|| panic!("no {tag} in CreateAccessKey's answer: {answer}"))
        };
        Credentials::new(&field("AccessKeyId"), &field("SecretAccessKey"))
    }

    /// A user allowed every S3 action on every bucket.
    pub async fn full_access_user(&self, name: &str) -> Credentials {
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
        self.create_user(name, Some(policy)).await
    }

    /// A user allowed S3 everywhere except on `bucket` and its objects, which an explicit
    /// Deny closes: a signed request of theirs there gets 403 `AccessDenied`.
    pub async fn no_access_user(&self, name: &str, bucket: &str) -> Credentials {
        let policy = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:*","Resource":"*"}},{{"Effect":"Deny","Action":"s3:*","Resource":["arn:aws:s3:::{bucket}","arn:aws:s3:::{bucket}/*"]}}]}}"#
        );
        self.create_user(name, Some(&policy)).await
    }

    /// Switches authentication on: first (while it is still off) makes the administrator the
    /// helpers sign with from then on, then makes moto check every request's signature and
    /// the signer's permissions. Create the test's users before or after, either works.
    pub async fn enable_auth(&self) {
        if *self.admin.lock().unwrap() == Credentials::placeholder() {
            let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
            let admin = self
                .create_user("tower-range-support-admin", Some(policy))
                .await;
            *self.admin.lock().unwrap() = admin;
        }
        self.moto_api("reset-auth", "0").await;
    }

    /// Switches authentication off again (moto stops checking signatures).
    pub async fn disable_auth(&self) {
        self.moto_api("reset-auth", "inf").await;
    }

    /// Forgets every bucket, object and user (moto's `POST /moto-api/reset`), with
    /// authentication off again, as after a start.
    pub async fn reset(&self) {
        self.disable_auth().await;
        self.moto_api("reset", "").await;
        *self.admin.lock().unwrap() = Credentials::placeholder();
    }

    async fn moto_api(&self, what: &str, body: &'static str) {
        // Plain text: moto reads the count from the raw body, which a form content type
        // would hide from it.
        let headers = [("content-type", "text/plain")];
        let path = format!("/moto-api/{what}");
        let (parts, answer) = signed_request(
            self.addr,
            &self.admin(),
            "s3",
            "POST",
            &path,
            &headers,
            Bytes::from_static(body.as_bytes()),
        )
        .await;
        self.check("POST", &path, &parts, &answer);
    }
}
