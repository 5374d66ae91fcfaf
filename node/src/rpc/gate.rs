//! One RPC middleware for every per-call check ([`CallCheck`]): the rate
//! limit and authorization. A refused call is answered with the check's
//! error, in place (inside a batch, the other calls go on); a call that
//! passes goes on to the next layer.

use jsonrpsee::Extensions;
use jsonrpsee::server::middleware::rpc::{
    Batch, BatchEntry, BatchEntryErr, MethodResponse, Notification, Request, RpcServiceT,
};
use jsonrpsee::types::ErrorObjectOwned;
use std::future::Future;

/// A check every call passes before it runs.
pub(super) trait CallCheck: Clone + Send + Sync + 'static {
    /// Why the call of `method` with `extensions` is refused, if it is.
    fn refuse(&self, method: &str, extensions: &Extensions) -> Option<ErrorObjectOwned>;

    /// A notification arrived (it has no answer to carry a refusal).
    fn notified(&self, extensions: &Extensions) {
        let _ = extensions;
    }
}

/// Puts a [`CallCheck`] in front of every call.
#[derive(Clone)]
pub(super) struct GateLayer<C>(pub(super) C);

impl<S, C: Clone> tower::Layer<S> for GateLayer<C> {
    type Service = Gate<S, C>;
    fn layer(&self, inner: S) -> Gate<S, C> {
        Gate { inner, check: self.0.clone() }
    }
}

/// The RPC middleware of [`GateLayer`].
#[derive(Clone)]
pub(super) struct Gate<S, C> {
    inner: S,
    check: C,
}

impl<S, C> RpcServiceT for Gate<S, C>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Clone
        + Send
        + Sync
        + 'static,
    C: CallCheck,
{
    type MethodResponse = S::MethodResponse;
    type NotificationResponse = S::NotificationResponse;
    type BatchResponse = S::BatchResponse;

    fn call<'a>(&self, request: Request<'a>) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        let refused = self.check.refuse(request.method_name(), request.extensions());
        let inner = self.inner.clone();
        async move {
            match refused {
                Some(error) => MethodResponse::error(request.id, error),
                None => inner.call(request).await,
            }
        }
    }

    fn batch<'a>(&self, mut batch: Batch<'a>) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        for entry in batch.iter_mut() {
            match entry {
                Ok(BatchEntry::Call(call)) => {
                    if let Some(error) = self.check.refuse(call.method_name(), call.extensions()) {
                        *entry = Err(BatchEntryErr::new(call.id.clone(), error));
                    }
                }
                Ok(BatchEntry::Notification(n)) => self.check.notified(n.extensions()),
                Err(_) => {}
            }
        }
        self.inner.batch(batch)
    }

    fn notification<'a>(&self, n: Notification<'a>) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        self.check.notified(n.extensions());
        self.inner.notification(n)
    }
}
