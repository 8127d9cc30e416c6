// Murmur's GraphiQL: queries and mutations over HTTP, subscriptions over graphql-transport-ws,
// both to this page's own /graphql. A file, not an inline script, so the page's
// Content-Security-Policy can forbid inline scripts.
(function () {
  "use strict";
  var WELCOME = [
    "# Welcome to Murmur.",
    "#",
    "# Log in (the demo world has user demo, password murmur-demo):",
    "#",
    '#   mutation { login(username: "demo", password: "murmur-demo") {',
    "#     ... on AuthPayload { token } ... on Error { message } } }",
    "#",
    '# then put {"Authorization": "Bearer <token>"} in the Headers pane below;',
    "# queries, mutations and subscriptions all send it.",
    "",
    "{ viewer { username followingCount } timeline(first: 5) { edges { node { body author { username } } } } }",
    "",
  ].join("\n");

  var url = window.location.origin + "/graphql";
  var fetcher = GraphiQL.createFetcher({
    url: url,
    subscriptionUrl: url.replace(/^http/, "ws"),
  });
  var explorer = GraphiQLPluginExplorer.explorerPlugin();

  function MurmurGraphiQL() {
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: WELCOME,
      plugins: [explorer],
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
      inputValueDeprecation: true,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(MurmurGraphiQL)
  );
})();
