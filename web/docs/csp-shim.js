// Loaded before ReDoc (whose styled-components writes its rules through a <style>
// element's CSSOM sheet). Under `style-src 'self'` the browser blocks every script-made
// <style>, so its `sheet` is null and ReDoc fails. Rules added to a constructed stylesheet
// are CSSOM, which the policy allows: a blocked element's `sheet` is one, adopted by the
// document. The empty <style> elements themselves are kept out of the document (the
// browser would only report them as refused), and so is ReDoc's one outside image (its
// "by Redocly" logo on a CDN): an image from another origin is never asked for.
(function () {
  var proto = HTMLStyleElement.prototype;
  var own = Object.getOwnPropertyDescriptor(proto, 'sheet');
  var desc = own || Object.getOwnPropertyDescriptor(Object.getPrototypeOf(proto), 'sheet');
  if (!desc || !desc.get || typeof CSSStyleSheet !== 'function' || !('adoptedStyleSheets' in document)) return;
  var adopted = new WeakMap();
  Object.defineProperty(proto, 'sheet', {
    configurable: true,
    get: function () {
      var real = desc.get.call(this);
      if (real) return real;
      var sheet = adopted.get(this);
      if (!sheet) {
        sheet = new CSSStyleSheet();
        adopted.set(this, sheet);
        document.adoptedStyleSheets = document.adoptedStyleSheets.concat([sheet]);
      }
      return sheet;
    },
  });
  function empty(node) {
    return node instanceof HTMLStyleElement && !node.textContent;
  }
  var append = Node.prototype.appendChild;
  var insert = Node.prototype.insertBefore;
  Node.prototype.appendChild = function (node) {
    return empty(node) ? node : append.call(this, node);
  };
  Node.prototype.insertBefore = function (node, before) {
    return empty(node) ? node : insert.call(this, node, before);
  };
  function foreign(value) {
    var url = String(value);
    return /^(https?:)?\/\//i.test(url) && url.indexOf(location.origin + '/') !== 0;
  }
  var setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    if (this instanceof HTMLImageElement && String(name).toLowerCase() === 'src' && foreign(value)) return undefined;
    return setAttribute.call(this, name, value);
  };
  var src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, 'src');
  if (src && src.set) {
    Object.defineProperty(HTMLImageElement.prototype, 'src', {
      configurable: true,
      get: src.get,
      set: function (value) {
        if (!foreign(value)) src.set.call(this, value);
      },
    });
  }
})();
