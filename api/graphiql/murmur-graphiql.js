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

  // A bearer token typed in the Headers pane must never reach localStorage, where any script on
  // this origin could read it long after the tab is closed. shouldPersistHeaders: false keeps
  // it out of the pane's own key and the tabs, but GraphiQL 3 also saves every run operation's
  // headers in its history: this storage drops them there too, and from what older pages saved.
  var NAMESPACE = "graphiql:";
  var HEADERS_KEY = NAMESPACE + "headers";
  var WITH_HEADERS = [NAMESPACE + "queries", NAMESPACE + "favorites", NAMESPACE + "tabState"];

  function withoutHeaders(key, value) {
    if (WITH_HEADERS.indexOf(key) === -1 || value === null) {
      return value;
    }
    try {
      return JSON.stringify(JSON.parse(value), function (name, item) {
        return name === "headers" ? undefined : item;
      });
    } catch (error) {
      return null; // not what GraphiQL writes: keep nothing rather than a token
    }
  }

  var storage = {
    getItem: function (key) {
      return key === HEADERS_KEY ? null : withoutHeaders(key, window.localStorage.getItem(key));
    },
    setItem: function (key, value) {
      var kept = key === HEADERS_KEY ? null : withoutHeaders(key, value);
      if (kept === null) {
        window.localStorage.removeItem(key);
      } else {
        window.localStorage.setItem(key, kept);
      }
    },
    removeItem: function (key) {
      window.localStorage.removeItem(key);
    },
    get length() {
      return Object.keys(window.localStorage).filter(function (key) {
        return key.indexOf(NAMESPACE) === 0;
      }).length;
    },
    clear: function () {
      Object.keys(window.localStorage).forEach(function (key) {
        if (key.indexOf(NAMESPACE) === 0) {
          window.localStorage.removeItem(key);
        }
      });
    },
  };

  try {
    // tokens an earlier version of this page left behind
    window.localStorage.removeItem(HEADERS_KEY);
    WITH_HEADERS.forEach(function (key) {
      var kept = window.localStorage.getItem(key);
      if (kept !== null) {
        storage.setItem(key, kept);
      }
    });
  } catch (error) {
    // no localStorage (a private window may refuse it): nothing is kept, nothing to clean
  }

  function MurmurGraphiQL() {
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: WELCOME,
      plugins: [explorer],
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
      storage: storage,
      inputValueDeprecation: true,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(MurmurGraphiQL)
  );
})();
