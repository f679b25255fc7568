B	initial_hJ(+K¿Ì(~?+×>«†œ½Êi>_r¿H¿r
s?	ƒV¿ûr7¿