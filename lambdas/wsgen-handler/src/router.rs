//! Dispatch by route key: one binary can serve several routes, scheduled events, and a
//! table's stream.

use crate::{Error, WsRequest, WsResponse};
use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use lambda_runtime::{service_fn, LambdaEvent};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send>>;
type RouteFn<S> = Box<dyn Fn(WsRequest, Arc<S>) -> BoxFuture<WsResponse> + Send + Sync>;
type ScheduleFn<S> = Box<dyn Fn(serde_json::Value, Arc<S>) -> BoxFuture<()> + Send + Sync>;
type StreamFn<S> = Box<dyn Fn(crate::stream::StreamEvent, Arc<S>) -> BoxFuture<()> + Send + Sync>;

/// Handlers by route key, sharing a state `S` (clients, configuration).
pub struct Router<S> {
    state: Arc<S>,
    routes: BTreeMap<String, RouteFn<S>>,
    schedule: Option<ScheduleFn<S>>,
    stream: Option<StreamFn<S>>,
}

impl<S: Send + Sync + 'static> Router<S> {
    pub fn new(state: S) -> Router<S> {
        Router {
            state: Arc::new(state),
            routes: BTreeMap::new(),
            schedule: None,
            stream: None,
        }
    }

    /// The handler of route `key`.
    pub fn route<F, Fut>(mut self, key: &str, f: F) -> Self
    where
        F: Fn(WsRequest, Arc<S>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<WsResponse, Error>> + Send + 'static,
    {
        self.routes
            .insert(key.to_string(), Box::new(move |req, s| Box::pin(f(req, s))));
        self
    }

    /// The `$connect` handler.
    pub fn on_connect<F, Fut>(self, f: F) -> Self
    where
        F: Fn(WsRequest, Arc<S>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<WsResponse, Error>> + Send + 'static,
    {
        self.route("$connect", f)
    }

    /// The `$disconnect` handler.
    pub fn on_disconnect<F, Fut>(self, f: F) -> Self
    where
        F: Fn(WsRequest, Arc<S>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<WsResponse, Error>> + Send + 'static,
    {
        self.route("$disconnect", f)
    }

    /// The `$default` handler; it also gets route keys no other handler serves.
    pub fn on_default<F, Fut>(self, f: F) -> Self
    where
        F: Fn(WsRequest, Arc<S>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<WsResponse, Error>> + Send + 'static,
    {
        self.route("$default", f)
    }

    /// The handler of events that are not WebSocket events (an EventBridge schedule).
    pub fn on_schedule<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(serde_json::Value, Arc<S>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        self.schedule = Some(Box::new(move |e, s| Box::pin(f(e, s))));
        self
    }

    /// The handler of a table stream's batches (the function is subscribed to the
    /// table's changes with `table.on_change(&function)`). An error makes Lambda run the
    /// whole batch again, and hold back the records after it until it succeeds.
    pub fn on_stream<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(crate::stream::StreamEvent, Arc<S>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        self.stream = Some(Box::new(move |e, s| Box::pin(f(e, s))));
        self
    }

    /// The route keys served.
    pub fn routes(&self) -> Vec<&str> {
        self.routes.keys().map(String::as_str).collect()
    }

    /// Handles one event: a WebSocket event goes to its route's handler, anything else
    /// to the schedule handler.
    pub async fn handle(&self, event: serde_json::Value) -> Result<serde_json::Value, Error> {
        match Event::parse(event)? {
            Event::Stream(event) => {
                let Some(f) = &self.stream else {
                    return Err(
                        "this function got a DynamoDB stream event, and has no stream handler"
                            .into(),
                    );
                };
                f(event, self.state.clone()).await?;
                Ok(serde_json::Value::Null)
            }
            Event::Other(event) => {
                let Some(f) = &self.schedule else {
                    return Err("this function got an event that is not a WebSocket event, and has no schedule handler".into());
                };
                f(event, self.state.clone()).await?;
                Ok(serde_json::Value::Null)
            }
            Event::WebSocket(req) => {
                let handler = self
                    .routes
                    .get(&req.route_key)
                    .or_else(|| self.routes.get("$default"))
                    .ok_or_else(|| {
                        format!(
                            "no handler for route `{}` (this function serves: {})",
                            req.route_key,
                            self.routes().join(", ")
                        )
                    })?;
                response(handler(*req, self.state.clone()).await?)
            }
        }
    }

    /// Serves events from the Lambda Runtime API until the process ends.
    pub async fn run(self) -> Result<(), Error> {
        let router = Arc::new(self);
        serve(Box::new(move |event| {
            let router = router.clone();
            Box::pin(async move { router.handle(event).await })
        }))
        .await
    }
}

/// An event as the router tells them apart.
enum Event {
    /// A batch of a table's stream.
    Stream(crate::stream::StreamEvent),
    /// Not a WebSocket event (an EventBridge schedule's).
    Other(serde_json::Value),
    WebSocket(Box<WsRequest>),
}

// What follows does not depend on the router's state type, so it is compiled once, in
// this crate, rather than in every handler crate that makes a `Router<S>` (a
// multi-call binary's crates would each generate the Runtime API client and the
// events' deserializers again, for LTO to merge).

impl Event {
    fn parse(event: serde_json::Value) -> Result<Event, Error> {
        if event
            .pointer("/Records/0/eventSource")
            .and_then(|s| s.as_str())
            == Some("aws:dynamodb")
        {
            return Ok(Event::Stream(serde_json::from_value(event)?));
        }
        if event
            .get("requestContext")
            .and_then(|c| c.get("routeKey"))
            .is_none()
        {
            return Ok(Event::Other(event));
        }
        let event: ApiGatewayWebsocketProxyRequest = serde_json::from_value(event)?;
        Ok(Event::WebSocket(Box::new(WsRequest::from_event(event)?)))
    }
}

/// A route's answer as the Lambda response API Gateway reads.
fn response(answer: WsResponse) -> Result<serde_json::Value, Error> {
    let response: ApiGatewayProxyResponse = answer.into();
    Ok(serde_json::to_value(response)?)
}

/// What answers each event of a function.
pub(crate) type EventFn<'a> =
    Box<dyn Fn(serde_json::Value) -> crate::Boxed<'a, serde_json::Value> + Send + Sync + 'a>;

/// The Lambda Runtime API loop, with `handler` for every event. (Not `Send`: a
/// function's `main` runs it.)
pub(crate) fn serve<'a>(
    handler: EventFn<'a>,
) -> Pin<Box<dyn Future<Output = Result<(), Error>> + 'a>> {
    Box::pin(async move {
        lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
            handler(event.payload)
        }))
        .await
    })
}
