// MathJax 3 configuration for pymdownx.arithmatex (generic mode): typeset \( \) and \[ \]
// inside the spans and divs arithmatex marks, nothing else. MathJax itself is copied into the
// site from the django-static-mathjax package by scripts/mkdocs_mathjax.py (no CDN).
window.MathJax = {
  tex: { inlineMath: [["\\(", "\\)"]], displayMath: [["\\[", "\\]"]],
         processEscapes: true, processEnvironments: true },
  options: { ignoreHtmlClass: ".*|", processHtmlClass: "arithmatex" },
  chtml: { fontURL: new URL("../mathjax/fonts", document.currentScript.src).href }
};
