// Keyboard moves through a table's rows: j / k, Enter or o opens, x selects.

export function rowKeys(scope, tbody, { open, toggle } = {}) {
  let cursor = -1;
  const rows = () => [...tbody.querySelectorAll("tr[data-id]")];
  const show = (i) => {
    const all = rows();
    if (!all.length) return;
    cursor = Math.max(0, Math.min(all.length - 1, i));
    all.forEach((row, n) => row.classList.toggle("cursor", n === cursor));
    all[cursor].scrollIntoView({ block: "nearest" });
  };
  scope.listen(document, "jobyard:key", (event) => {
    const all = rows();
    if (event.detail === "j") show(cursor + 1);
    else if (event.detail === "k") show(cursor - 1);
    else if ((event.detail === "Enter" || event.detail === "o") && all[cursor] && open) open(all[cursor].dataset.id);
    else if (event.detail === "x" && all[cursor] && toggle) toggle(all[cursor].dataset.id);
  });
  return { restore: () => (cursor >= 0 ? show(cursor) : null) };
}
