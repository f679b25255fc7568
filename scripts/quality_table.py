#!/usr/bin/env python3
# The per-setting and mean tables of docs/results.md from a scripts/run_quality.sh output folder:
#   python3 scripts/quality_table.py runs/quality-demo
# Unseen diversity: mean pairwise feature distance of the unseen class's samples (higher = less
# collapsed); coverage: PRDC coverage of all samples against the real test set.
# A mean row averages only the settings where all three methods have all three judges' evals.
import json,pathlib,statistics as st,sys
root=pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else 'runs/quality')
names=["T-shirt/top","Trouser","Pullover","Dress","Coat","Sandal","Shirt","Sneaker","Bag","Ankle boot"]
def ld(d,sub):
    p=d/sub/"eval.json"
    return json.loads(p.read_text()) if p.exists() else None
means={}
print("| classifier | unseen class | ProbeGAN | NAIVE | AM |\n|---|---|---|---|---|")
for clf in ["regular","robust"]:
  for c in range(10):
    cells=[];vals={}
    for m in ["probegan","naive","am"]:
      d=root/clf/m/f"class{c}"
      e,ec,e2=ld(d,"eval"),ld(d,"eval_closed"),ld(d,"eval_judge2")
      if not (e and ec and e2): cells.append(None); continue
      u=e["overall"]["unseen_recognition"]; s=e["overall"]["seen_recognition"]
      uc=[k for k in e["classes"] if k["unseen"]][0]
      ifid=uc["intra_fid"]
      div=uc["diversity"]["mean_pairwise_distance"]
      cov=(e["overall"].get("prdc") or {}).get("coverage", float("nan"))
      vals[m]=(u,ec['overall']['unseen_recognition'],e2['overall']['unseen_recognition'],s,ifid,div,cov)
      cells.append("%.1f / %.1f / %.1f / %.1f / %.0f"%(u*100,vals[m][1]*100,vals[m][2]*100,s*100,ifid))
    if len(vals)==3:
      for m,v in vals.items(): means.setdefault((clf,m),[]).append(v)
    if any(cells): print(f"| {clf} | {names[c]} | "+" | ".join(x or "—" for x in cells)+" |")
print("\n| classifier | method | settings | **judge (open), unseen** | closed judge, unseen | second judge, unseen | judge (open), seen | unseen intra-FID | unseen diversity | coverage (all classes) |\n|---|---|---|---|---|---|---|---|---|---|")
for (clf,m),vs in sorted(means.items()):
    mm=lambda i: st.mean(v[i] for v in vs)
    print(f"| {clf} | {m} | {len(vs)} | **{mm(0)*100:.1f}** | {mm(1)*100:.1f} | {mm(2)*100:.1f} | {mm(3)*100:.1f} | {mm(4):.0f} | {mm(5):.2f} | {mm(6):.3f} |")
