import numpy as np
from auforget.datasets import faces
from auforget import regions
S=96
rng0=np.random.default_rng(1)
res={}
for au in [1,2,4,5,6,7,9,10,12,14,15,17,23,25,26]:
    maps=[];lms=[]
    for i in range(20):
        r=np.random.default_rng([7,i])
        idn=faces.random_identity(r, faces.Pose(0.5,0.55,0.28,0.0))
        a,lm=faces.render_face(idn,{},(S,S),np.random.default_rng([9,i]))
        b,_=faces.render_face(idn,{au:3.5},(S,S),np.random.default_rng([9,i]))
        d=np.abs(np.asarray(a,float)-np.asarray(b,float)).sum(-1)
        maps.append(d); lms.append(lm)
    t=regions.rank_aus(np.stack(maps),lms,n_null=100,seed=0)
    own=[k for k,v in regions.AU_REGIONS.items() if au in v]
    print(f'AU{au:<3} own {own} top:', ', '.join(f"{r} {e:.1f}" for r,e in zip(t.region[:3],t.effect_size[:3])))
