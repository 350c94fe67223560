// Starts GraphiQL against the endpoint named by #graphiql's data-endpoint,
// opening on the query of its data-default-query on a first visit.
// ?query=, ?variables= and ?operationName= fill the editors, and edits are
// written back to the address, so a link shares a query. Mutations need a
// write token: put {"Authorization": "Bearer <token>"} in the Headers tab
// (it is not stored).
(function () {
  'use strict';
  var root = document.getElementById('graphiql');
  var endpoint = new URL(root.dataset.endpoint, window.location.href).href;
  var params = new URLSearchParams(window.location.search);

  function remember(name) {
    return function (value) {
      if (value) {
        params.set(name, value);
      } else {
        params.delete(name);
      }
      var search = params.toString();
      window.history.replaceState(null, '', search ? '?' + search : window.location.pathname);
    };
  }

  var props = {
    fetcher: GraphiQL.createFetcher({ url: endpoint }),
    defaultQuery: root.dataset.defaultQuery,
    onEditQuery: remember('query'),
    onEditVariables: remember('variables'),
    onEditOperationName: remember('operationName'),
    shouldPersistHeaders: false
  };
  if (params.has('query')) {
    props.query = params.get('query');
  }
  if (params.has('variables')) {
    props.variables = params.get('variables');
    props.defaultEditorToolsVisibility = 'variables';
  }
  if (params.has('operationName')) {
    props.operationName = params.get('operationName');
  }
  ReactDOM.createRoot(root).render(React.createElement(GraphiQL, props));
})();
